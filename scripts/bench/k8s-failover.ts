#!/usr/bin/env bun
// Failover on Kubernetes, measured: the replicated chart with its default lease settings (15 s / 5 s / 2 s) on a
// real control plane, the pods run by the test kubelet from the image's root filesystem, MinIO as the bucket (see
// test/helpers/kubelet.ts and test/k8s/failover.test.ts for the setup and how the Service address is played).
// A producer sends one record at a time through the Service's address (acks=all). Alternately the primary is killed
// (kill -9 of its container) or its pod is deleted (SIGTERM, as a rolling update does); each time it measures
//   - to the slice: from the kill / delete to the Service's EndpointSlice naming only the new primary
//   - to the first ack: from the kill / delete to the first record acknowledged through the Service afterwards
//     (after the producer's first failure, if it saw one)
// and prints min / median / max over the runs, plus the image's contents. Runs in a network namespace of its own
// (as root; pod addresses are added there, never to this machine).
//   bun scripts/bench/k8s-failover.ts [--runs 10] [--json out.json] [--set key=value ...]
import { spawnSync } from "node:child_process";
import { statSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ensureBinary } from "../../test/helpers/binary.ts";
import { installReplicated, until, type ReplicatedRelease } from "../../test/helpers/k8s-release.ts";
import { kubernetesPeers } from "../../test/helpers/kubernetes.ts";
import { minio } from "../../test/helpers/minio.ts";
import { IN_NETNS, netnsCommand } from "../../test/helpers/netns.ts";
import { distrolessRootfs, rootfsPath, rootfsSpec } from "../../test/helpers/rootfs.ts";

const { values: a } = parseArgs({ options: { runs: { type: "string", default: "10" }, json: { type: "string" }, set: { type: "string", multiple: true, default: [] } } });

// Peers and the binary first, here: the network namespace has no way out.
for (const p of await Promise.all([kubernetesPeers(), minio(), distrolessRootfs()])) if (!p.ok) throw new Error(p.reason);
const binary = await ensureBinary();
if (!IN_NETNS) {
  const { cmd, env } = netnsCommand([process.execPath, import.meta.path, ...process.argv.slice(2)]);
  const p = spawnSync(cmd[0]!, cmd.slice(1), { stdio: "inherit", env: { ...process.env, ...env } });
  process.exit(p.status ?? 1);
}

const RUNS = Number(a.runs);
const log = (s: string) => process.stderr.write(`${s}\n`);

const r: ReplicatedRelease = await installReplicated({ values: a.set!.flatMap((kv) => ["--set", kv]) });
const other = (pod: string) => (pod === "klite-0" ? "klite-1" : "klite-0");
type Sample = { mode: "kill -9" | "SIGTERM"; toSliceMs: number; toAckMs: number; sameNode: boolean };
const samples: Sample[] = [];

async function sliceIps(): Promise<string[]> {
  const sl = await r.cluster.api("GET", `/apis/discovery.k8s.io/v1/namespaces/kafka/endpointslices?labelSelector=${encodeURIComponent("kubernetes.io/service-name=klite")}`);
  return sl.items.flatMap((s: any) => (s.endpoints ?? []).filter((e: any) => e.conditions?.ready !== false).flatMap((e: any) => e.addresses)).sort();
}

async function settled(): Promise<string> {
  return until("one primary, alone in the slice", async () => {
    const p = await r.primaries();
    return p.length === 1 && (await sliceIps()).join() === r.podIp(p[0]!) && ["klite-0", "klite-1"].every((n) => r.kubelet.pods.get(n)?.ready) ? p[0]! : null;
  }, 180_000, 200);
}

try {
  await until("the standby in sync", async () => r.standbyInSync(await settled()), 180_000, 200);
  const producer = r.client(["produce", "--bootstrap", r.bootstrap, "--topic", "bench", "--interval-ms", "10"]);
  const lines = () => producer.lines();
  await until("first acknowledgements", () => lines().filter((l) => l.startsWith("ack ")).length > 50, 120_000);
  for (let i = 0; i < RUNS * 2; i++) {
    const mode = i % 2 === 0 ? "kill -9" : "SIGTERM";
    const old = await settled();
    await until("the standby in sync", () => r.standbyInSync(old), 120_000, 200);
    await Bun.sleep(2000); // steady state: acknowledgements flowing through the primary and the standby
    const t0 = Date.now();
    if (mode === "kill -9") r.kubelet.signal(old, "SIGKILL");
    else await r.cluster.api("DELETE", `/api/v1/namespaces/kafka/pods/${old}`);
    // First the old primary leaves the slice (not ready after a crash, unlabelled on SIGTERM), then the slice names
    // the new primary alone. That is normally the other pod; the old one's restarted container or re-created pod
    // may win the lease instead (counted below).
    await until("the old primary out of the slice", async () => !(await sliceIps()).includes(r.podIp(old)), 120_000, 20);
    const next = await until("the slice on the new primary", async () => {
      const p = await r.primaries();
      return p.length === 1 && (await sliceIps()).join() === r.podIp(p[0]!) ? p[0]! : null;
    }, 120_000, 20);
    const toSliceMs = Date.now() - t0;
    const after = () => lines().map((l) => l.split(" ")).filter((f) => (f[0] === "ack" ? Number(f[4]) : Number(f[2])) > t0);
    const firstAck = await until("an acknowledgement through the Service", () => {
      const ev = after();
      const firstErr = ev.findIndex((f) => f[0] === "err");
      const ack = ev.find((f, j) => f[0] === "ack" && (firstErr < 0 || j > firstErr));
      return ack ? Number(ack[4]) : null;
    }, 120_000, 20);
    samples.push({ mode, toSliceMs, toAckMs: firstAck - t0, sameNode: next === old });
    log(`run ${i + 1}/${RUNS * 2} ${mode.padEnd(7)} ${old} → ${next}: slice ${toSliceMs} ms, first ack ${firstAck - t0} ms`);
  }
  producer.proc.kill("SIGTERM");
  await producer.exited;
} catch (e) {
  log(`failed: ${(e as Error).message}\nprimaries: ${await r.primaries().catch(() => "?")}; slice: ${await sliceIps().catch(() => "?")}`);
  for (const p of ["klite-0", "klite-1"]) log(`----- ${p}\n${r.kubelet.logs(p).slice(-5000)}`);
  throw e;
} finally {
  await r.stop();
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return { min: s[0]!, median: s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2, max: s[s.length - 1]! };
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const rows: string[] = ["| event | measured | runs | min | median | max |", "|---|---|--:|--:|--:|--:|"];
const summary: Record<string, unknown> = {};
for (const mode of ["kill -9", "SIGTERM"] as const) {
  const ss = samples.filter((s) => s.mode === mode);
  for (const [what, key] of [["to the EndpointSlice naming the new primary", "toSliceMs"], ["to the first acknowledged produce through the Service", "toAckMs"]] as const) {
    const st = stats(ss.map((s) => s[key]));
    summary[`${mode} ${key}`] = st;
    rows.push(`| ${mode} of the primary | ${what} | ${ss.length} | ${fmt(st.min)} | ${fmt(st.median)} | ${fmt(st.max)} |`);
  }
  const same = ss.filter((s) => s.sameNode).length;
  if (same) rows.push(`| ${mode} of the primary | the old primary's pod won the lease again | ${same} of ${ss.length} | | | |`);
}
const du = (p: string) => Number(spawnSync("du", ["-sb", p]).stdout.toString().split("\t")[0]);
const binBytes = statSync(binary).size;
const rootBytes = du(rootfsPath());
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
console.log(rows.join("\n"));
console.log(`\nimage: ${rootfsSpec().base} + klite: binary ${mib(binBytes)}, base root filesystem ${mib(rootBytes)} (${rootfsSpec().packages.join(", ")}), together ${mib(binBytes + rootBytes)}`);
if (a.json) writeFileSync(a.json, JSON.stringify({ samples, summary, image: { binaryBytes: binBytes, baseRootfsBytes: rootBytes } }, null, 2));
