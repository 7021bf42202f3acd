// The pod-role labeller against a real kube-apiserver, with the credentials a pod of the chart has: a token of the
// chart's service account (from `kubectl create token`) in a kubeconfig, bound to the chart's own Role (rendered by
// helm from charts/klite). First the PodLabels contract (the same suite the in-memory twin passes), then the
// compiled binary with POD_NAME and KUBECONFIG: it labels its pod klite.io/role=primary once it serves, removes a
// stale label from its sibling, removes its own on SIGTERM, and says why when the API refuses it.
// The in-cluster path (mounted service account) is tested from inside the image: test/k8s/distroless.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubePodLabels, loadKubeConfig } from "../../src/k8s/api.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { ROOT, spawnBroker, type SpawnedBroker } from "../helpers/broker.ts";
import { kubernetesPeers, startCluster, type Cluster } from "../helpers/kubernetes.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { podLabelsContract } from "./pod-labels-contract.ts";

const peers = await kubernetesPeers();
let cluster: Cluster;
let dir: string;
let exe: string;
const brokers: SpawnedBroker[] = [];
let namespaces = 0;

const SELECTOR = "app.kubernetes.io/name=klite,app.kubernetes.io/instance=klite";

/** A namespace with the chart's service account, Role and RoleBinding (replicated mode), and a kubeconfig with
 * that service account's token. */
async function namespaceWithChartRbac(): Promise<{ ns: string; kubeconfig: string }> {
  const ns = `labels-${++namespaces}`;
  await cluster.kubectl(["create", "namespace", ns]);
  const rbac = await cluster.helm([
    "template", "klite", join(ROOT, "charts/klite"), "--namespace", ns, "--set", "replication.enabled=true", "--set", "s3.bucket=klite-test",
    "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml",
  ]);
  await cluster.kubectl(["apply", "-n", ns, "-f", "-"], { stdin: rbac });
  const token = (await cluster.kubectl(["create", "token", "klite", "-n", ns])).trim();
  return { ns, kubeconfig: cluster.tokenKubeconfig(token, ns, join(dir, `${ns}.kubeconfig`)) };
}

async function addPod(ns: string, name: string, labels: Record<string, string>): Promise<void> {
  const pod = { apiVersion: "v1", kind: "Pod", metadata: { name, labels }, spec: { serviceAccountName: "klite", automountServiceAccountToken: false, containers: [{ name: "klite", image: "klite" }] } };
  await cluster.kubectl(["apply", "-n", ns, "-f", "-"], { stdin: JSON.stringify(pod) });
}

async function labelsOf(ns: string, pod: string): Promise<Record<string, string>> {
  return (await cluster.json(["get", "pod", pod, "-n", ns])).metadata.labels ?? {};
}

async function until(what: string, f: () => Promise<boolean>, b?: SpawnedBroker, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await f()) return;
    await Bun.sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${b ? `\n${b.output()}` : ""}`);
}

describeWithPeer("pod-role labels on a real kube-apiserver", peers, () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "klite-labels-"));
    exe = join(dir, "klite");
    const [c, bin] = await Promise.all([startCluster({ controllers: false }), ensureBinary()]);
    cluster = c;
    copyFileSync(bin, exe);
  }, 300_000);

  afterAll(async () => {
    for (const b of brokers) if (b.proc.exitCode === null) b.kill("SIGKILL");
    await Promise.all(brokers.map((b) => b.exited));
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("PodLabels contract (kubeconfig with the chart's service account token)", () => {
    podLabelsContract(async () => {
      const { ns, kubeconfig } = await namespaceWithChartRbac();
      const api = new KubePodLabels(loadKubeConfig({ kind: "kubeconfig", path: kubeconfig }), ns, { kind: "kubeconfig", path: kubeconfig });
      return { api, addPod: (n, l) => addPod(ns, n, l), labels: (n) => labelsOf(ns, n) };
    });
  });

  test("dist/klite with POD_NAME and KUBECONFIG labels its pod, clears a stale sibling, unlabels on SIGTERM", async () => {
    const { ns, kubeconfig } = await namespaceWithChartRbac();
    const labels = { "app.kubernetes.io/name": "klite", "app.kubernetes.io/instance": "klite" };
    await addPod(ns, "klite-0", labels);
    await addPod(ns, "klite-1", { ...labels, "klite.io/role": "primary" }); // crashed with its label on
    await addPod(ns, "other-0", { "app.kubernetes.io/name": "klite", "app.kubernetes.io/instance": "other", "klite.io/role": "primary" });
    const b = await spawnBroker({
      command: [exe],
      cwd: dir,
      args: ["--label-selector", SELECTOR],
      env: { POD_NAME: "klite-0", POD_NAMESPACE: ns, KUBECONFIG: kubeconfig, NODE_EXTRA_CA_CERTS: "" },
    });
    brokers.push(b);
    await until("klite-0 labelled", async () => (await labelsOf(ns, "klite-0"))["klite.io/role"] === "primary", b);
    await until("klite-1 unlabelled", async () => (await labelsOf(ns, "klite-1"))["klite.io/role"] === undefined, b);
    expect((await labelsOf(ns, "other-0"))["klite.io/role"]).toBe("primary"); // another release: not ours to touch
    expect(await labelsOf(ns, "klite-1")).toEqual(labels);
    expect(b.output()).toContain(`pod role labels on: pod klite-0 in namespace ${ns} on ${cluster.server} via kubeconfig`);
    b.kill("SIGTERM");
    expect(await b.exited).toBe(0);
    // Removed before the process exited (the broker awaits it on a graceful stop).
    expect((await labelsOf(ns, "klite-0"))["klite.io/role"]).toBeUndefined();
  });

  test("a token without the Role: the broker serves anyway and logs the API server's refusal once", async () => {
    const ns = `labels-${++namespaces}`;
    await cluster.kubectl(["create", "namespace", ns]);
    await cluster.kubectl(["create", "serviceaccount", "klite", "-n", ns]);
    await addPod(ns, "klite-0", {});
    const token = (await cluster.kubectl(["create", "token", "klite", "-n", ns])).trim();
    const kubeconfig = cluster.tokenKubeconfig(token, ns, join(dir, `${ns}.kubeconfig`));
    const b = await spawnBroker({ command: [exe], cwd: dir, env: { POD_NAME: "klite-0", KUBECONFIG: kubeconfig } });
    brokers.push(b);
    await until("the refusal is logged", async () => /could not set klite\.io\/role=primary/.test(b.output()), b);
    expect(b.output()).toMatch(/HTTP 403: pods "klite-0" is forbidden: User "system:serviceaccount:labels-\d+:klite" cannot patch resource "pods"/);
    expect(b.output().match(/could not set/g)!.length).toBe(1); // retries are at debug level
    expect(b.output()).toContain("listening on");
    b.kill("SIGTERM");
    expect(await b.exited).toBe(0); // the stop gives up on the label after its bound
  });
});
