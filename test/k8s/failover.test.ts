// The replicated chart end to end on a real control plane: etcd, kube-apiserver and kube-controller-manager (which
// creates the StatefulSet's pods and keeps the Service's EndpointSlices), the test playing kubelet, kube-proxy and
// cluster DNS (test/helpers/kubelet.ts), MinIO as the bucket. Each pod runs dist/klite from the image's root
// filesystem with the pod's own args and env, and labels itself through its mounted service account.
//
// The Service address: the API server hands the Service a ClusterIP (10.96.0.x); the test makes it a local address
// of its network namespace and a TCP proxy there forwards new connections to the ready endpoints the EndpointSlice
// lists, as kube-proxy does. Clients resolve the Service's FQDN (the broker's advertised address) to the ClusterIP
// through /etc/hosts, as cluster DNS would answer. So a client bootstrapped through klite.kafka.svc.cluster.local:9092
// reaches whichever pod the slice names, and only that one.
//
// Everything runs in a network namespace of its own (pod IPs must not be loopback addresses, and are never added
// to this machine's interfaces): this file runs itself again inside one and reports the inner results test by test.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ensureBinary } from "../helpers/binary.ts";
import { installReplicated, until, type ClientProcess, type ReplicatedRelease } from "../helpers/k8s-release.ts";
import { kubernetesPeers } from "../helpers/kubernetes.ts";
import { minio } from "../helpers/minio.ts";
import { IN_NETNS, runInNetns, type InnerResult } from "../helpers/netns.ts";
import { describeWithPeer, which, type PeerResult } from "../helpers/peers.ts";
import { distrolessRootfs } from "../helpers/rootfs.ts";

const NAMES = {
  onePrimary: "both pods Ready, exactly one labelled klite.io/role=primary, and the Service's EndpointSlice lists exactly its address",
  rejoin: "kill -9 of the standby: its container is restarted and it catches up while the producer through the Service carries on",
  crash: "kill -9 of the primary: the label and the EndpointSlice move to the other pod, and the producer through the Service carries on",
  graceful: "SIGTERM of the primary (its pod deleted, as a rolling update does): the label and the EndpointSlice move back, and the producer carries on",
  noLoss: "every acknowledged record is read back through the Service",
} as const;
const TOPIC = "failover";
// Short leases keep the crash case quick; the benchmark (scripts/bench/k8s-failover.ts) uses the chart's defaults.
const VALUES = ["--set", "replication.leaseDuration=3s", "--set", "replication.leaseRenewInterval=1s", "--set", "replication.leaseRetryInterval=500ms", "--set", "replication.ackTimeout=2s"];

const [k8s, s3, image] = await Promise.all([kubernetesPeers(), minio(), distrolessRootfs()]);
const tools: PeerResult = ["unshare", "ip", "mount"].every((b) => which(b)) && process.getuid?.() === 0 ? { ok: true, path: "" } : { ok: false, reason: "needs root with unshare, ip and mount (a network namespace of its own)" };
const peers = [k8s, s3, image, tools].find((p) => !p.ok) ?? k8s;

if (!IN_NETNS) {
  // Outside: run this file in a network namespace of its own, then report each of its tests.
  describeWithPeer("replicated chart on a real control plane (run in its own network namespace)", peers, () => {
    let inner: { results: Map<string, InnerResult>; output: string };
    beforeAll(async () => {
      await ensureBinary();
      inner = await runInNetns(import.meta.path, 600_000);
    }, 700_000);
    for (const name of Object.values(NAMES)) {
      test(name, () => {
        const r = inner.results.get(name);
        if (!r) throw new Error(`the run in the network namespace did not report this test:\n${inner.output.slice(-4000)}`);
        if (r.status === "failed") throw new Error(r.message || inner.output.slice(-4000));
        expect(r.status).toBe("passed");
      });
    }
  });
} else {
  describe("replicated chart on a real control plane", () => {
    let r: ReplicatedRelease;
    let producer: ClientProcess;
    const other = (pod: string) => (pod === "klite-0" ? "klite-1" : "klite-0");

    /** The pod the label and the slice agree on, once exactly one pod is labelled and the slice lists only it. */
    async function settledPrimary(): Promise<string> {
      return until("one primary, labelled and alone in the EndpointSlice", async () => {
        const p = await r.primaries();
        return p.length === 1 && r.endpoints().join() === r.podIp(p[0]!) ? p[0]! : null;
      }, 90_000);
    }

    /** Waits until `pod` alone carries the label and alone is in the Service's EndpointSlice. */
    async function movedTo(pod: string): Promise<string> {
      return until(`the label and the EndpointSlice on ${pod} alone`, async () => (await r.primaries()).join() === pod && r.endpoints().join() === r.podIp(pod) ? pod : null, 90_000);
    }

    /** Acknowledgements the producer printed after `since` (wall clock). */
    const acksAfter = (since: number) => producer.lines().filter((l) => l.startsWith("ack ") && Number(l.split(" ")[4]) > since);

    async function bothReady(): Promise<void> {
      await until("both pods running and Ready", () => ["klite-0", "klite-1"].every((p) => r.kubelet.pods.get(p)?.ready), 120_000);
    }

    beforeAll(async () => {
      r = await installReplicated({ values: VALUES });
    }, 300_000);

    afterAll(async () => {
      if (producer && producer.proc.exitCode === null) producer.proc.kill("SIGKILL");
      if (producer) process.stderr.write(`----- producer (errors and the last lines)\n${producer.lines().filter((l, i, all) => !l.startsWith("ack ") || i > all.length - 5).slice(-60).join("\n")}\n${producer.stderr().slice(-3000)}\n`);
      if (r) {
        for (const p of ["klite-0", "klite-1"]) process.stderr.write(`----- ${p}\n${r.kubelet.logs(p).slice(-6000)}\n`);
        await r.stop();
      }
    });

    test(NAMES.onePrimary, async () => {
      await bothReady();
      const primary = await settledPrimary();
      expect(await r.primaries()).toEqual([primary]);
      expect(r.endpoints()).toEqual([r.podIp(primary)]);
      // Producing starts at once, while the standby may still be joining: what is acknowledged then must survive the
      // failovers below as well.
      producer = r.client(["produce", "--bootstrap", r.bootstrap, "--topic", TOPIC]);
      await until("the first acknowledgement through the Service", () => acksAfter(0).length >= 20, 60_000);
    });

    test(NAMES.rejoin, async () => {
      // A fresh pair's standby is in sync before the first record, so the window where records are acknowledged
      // while it is still joining is opened here: it joins again (and backfills) under load. The failovers below
      // must keep what was acknowledged meanwhile.
      const primary = await settledPrimary();
      const standby = other(primary);
      const restarts = r.kubelet.pods.get(standby)!.restarts;
      const t0 = Date.now();
      r.kubelet.signal(standby, "SIGKILL");
      await until(`${standby}'s container restarted`, () => r.kubelet.pods.get(standby)!.restarts > restarts, 60_000);
      await until("acknowledgements while the standby rejoins", () => acksAfter(t0).length >= 20, 60_000);
      await bothReady();
      expect(await r.primaries()).toEqual([primary]);
    });

    test(NAMES.crash, async () => {
      const old = await settledPrimary();
      await until("the standby in sync", () => r.standbyInSync(old), 60_000);
      const t0 = Date.now();
      r.kubelet.signal(old, "SIGKILL");
      const next = await movedTo(other(old));
      await until("acknowledgements from the new primary", () => acksAfter(t0).length >= 20, 60_000);
      // The killed pod's container is restarted and rejoins as the standby.
      await bothReady();
      expect(await r.primaries()).toEqual([next]);
    });

    test(NAMES.graceful, async () => {
      const old = await settledPrimary();
      await until("the standby in sync", () => r.standbyInSync(old), 60_000);
      const t0 = Date.now();
      await r.cluster.kubectl(["delete", "pod", old, "-n", "kafka", "--wait=false"]);
      const next = await movedTo(other(old));
      await until("acknowledgements from the new primary", () => acksAfter(t0).length >= 20, 60_000);
      // The StatefulSet recreates the pod; it comes back as the standby.
      await bothReady();
      expect(await r.primaries()).toEqual([next]);
    });

    test(NAMES.noLoss, async () => {
      producer.proc.kill("SIGTERM");
      expect(await producer.exited).toBe(0);
      const acked = producer.lines().filter((l) => l.startsWith("ack ")).map((l) => `v-${l.split(" ")[1]}`);
      expect(acked.length).toBeGreaterThan(60);
      const consumer = r.client(["consume", "--bootstrap", r.bootstrap, "--topic", TOPIC]);
      expect(await consumer.exited).toBe(0);
      const read = new Set(consumer.lines().filter((l) => l.startsWith("r ")).map((l) => l.split(" ")[3]));
      const lost = acked.filter((v) => !read.has(v));
      if (lost.length) {
        const ackAt = new Map(producer.lines().filter((l) => l.startsWith("ack ")).map((l) => [`v-${l.split(" ")[1]}`, l.split(" ").slice(2, 4).join(":")]));
        const readAt = consumer.lines().filter((l) => l.startsWith("r ")).map((l) => `${l.split(" ")[1]}:${l.split(" ")[2]}=${l.split(" ")[3]}`);
        process.stderr.write(`acknowledged at (partition:offset): ${lost.map((v) => `${v}@${ackAt.get(v)}`).join(" ")}\nread: ${readAt.slice(0, 60).join(" ")}\n`);
      }
      expect(lost).toEqual([]);
    });
  });
}
