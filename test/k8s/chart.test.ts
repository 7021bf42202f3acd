// The Helm chart (charts/klite) on a real control plane (etcd, kube-apiserver, kube-controller-manager built from
// the Go module proxy): `helm lint`, both modes rendered and validated by the API server itself
// (`kubectl apply --dry-run=server`, which rejects unknown fields and invalid values), bad values refused with a
// message, the project page's examples, then `helm install` of both modes: the controllers create the pods from
// the chart's Deployment / StatefulSet, and `kubectl auth can-i` as the chart's service account shows what the
// pods may do. Rendering and refusals are checked with every Helm built here (v4, and v3 when it builds).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT } from "../helpers/broker.ts";
import { HELM3_PEER_NAME, helm3, helm3Binary, kubernetesPeers, startCluster, type Cluster } from "../helpers/kubernetes.ts";
import { describeWithPeer, run } from "../helpers/peers.ts";

const CHART = join(ROOT, "charts/klite");
const peers = await kubernetesPeers();
const v3 = await helm3();
let cluster: Cluster;

const REPLICATED = ["--set", "replication.enabled=true", "--set", "s3.bucket=my-klite-data", "--set", "s3.region=us-west-2"];

/** helm v4 through the cluster helper, and helm v3 when it could be built. */
function helms(): { name: string; helm: (args: string[]) => Promise<string> }[] {
  const list = [{ name: "helm v4", helm: (a: string[]) => cluster.helm(a) }];
  const env = { HELM_CONFIG_HOME: join(cluster.dir, "helm3"), HELM_CACHE_HOME: join(cluster.dir, "helm3"), HELM_DATA_HOME: join(cluster.dir, "helm3") };
  if (v3.ok) list.push({ name: "helm v3", helm: (a: string[]) => run([helm3Binary(), `--kubeconfig=${cluster.kubeconfig}`, ...a], { timeoutMs: 120_000, env }) });
  return list;
}

async function refused(p: Promise<unknown>): Promise<string> {
  return p.then(() => "accepted", (e: Error) => e.message);
}

type Obj = { kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any };

/** Renders with helm and has the API server validate every object (server-side dry run); the objects as stored. */
async function dryRun(ns: string, values: string[]): Promise<Obj[]> {
  const manifest = await cluster.helm(["template", "klite", CHART, "--namespace", ns, ...values]);
  const out = await cluster.kubectl(["apply", "--dry-run=server", "-n", ns, "-o", "json", "-f", "-"], { stdin: manifest });
  const parsed = JSON.parse(out);
  return parsed.kind === "List" ? parsed.items : [parsed];
}

const find = (objs: Obj[], kind: string) => objs.find((o) => o.kind === kind);
const container = (w: Obj) => w.spec.template.spec.containers[0];

function expectHardenedPod(w: Obj) {
  const pod = w.spec.template.spec;
  const c = container(w);
  expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532 });
  expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
  expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(60);
  expect(pod.enableServiceLinks).toBe(false); // no KLITE_PORT & co. beside klite's own KLITE_ settings
  const health = c.ports.find((p: any) => p.name === "health").containerPort;
  expect(c.args).toContain(`--health-addr=:${health}`);
  expect(c.livenessProbe.httpGet).toMatchObject({ path: "/livez", port: "health" });
  expect(c.readinessProbe.httpGet).toMatchObject({ path: "/readyz", port: "health" });
  const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.valueFrom?.fieldRef?.fieldPath ?? e.value]));
  expect(env).toMatchObject({ POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace" });
  expect(c.volumeMounts.map((m: any) => m.mountPath).sort()).toEqual(["/data", "/tmp"]);
  expect(c.image).toBe("ghcr.io/klaudworks/klite:0.1.0");
}

describeWithPeer("helm chart charts/klite", peers, () => {
  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.kubectl(["create", "namespace", "dry"]);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  test("helm lint passes in both modes", async () => {
    for (const { name, helm } of helms()) {
      const single = await helm(["lint", CHART]);
      const replicated = await helm(["lint", CHART, ...REPLICATED]);
      expect(`${name}: ${single}`).toContain("0 chart(s) failed");
      expect(`${name}: ${replicated}`).toContain("0 chart(s) failed");
    }
  });

  test("single mode: a Deployment (1 replica, Recreate) with a PVC and a ClusterIP Service on 9092, accepted by the API server", async () => {
    const objs = await dryRun("dry", []);
    expect(objs.map((o) => o.kind).sort()).toEqual(["Deployment", "PersistentVolumeClaim", "Service", "ServiceAccount"]);
    const deploy = find(objs, "Deployment")!;
    expect(deploy.spec.replicas).toBe(1);
    expect(deploy.spec.strategy.type).toBe("Recreate");
    expectHardenedPod(deploy);
    const pod = deploy.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false); // no Kubernetes API access in single mode
    expect(pod.volumes.find((v: any) => v.name === "data").persistentVolumeClaim.claimName).toBe("klite");
    expect(container(deploy).args).toEqual(expect.arrayContaining(["--listen=:9092", "--advertised-addr=klite.dry.svc.cluster.local:9092", "--data-dir=/data"]));
    const svc = find(objs, "Service")!;
    expect(svc.spec.type).toBe("ClusterIP");
    expect(svc.spec.ports).toEqual([expect.objectContaining({ name: "kafka", port: 9092, targetPort: "kafka" })]);
    expect(svc.spec.selector).toEqual({ "app.kubernetes.io/name": "klite", "app.kubernetes.io/instance": "klite" });
    const pvc = find(objs, "PersistentVolumeClaim")!;
    expect(pvc.spec.resources.requests.storage).toBe("10Gi");
    expect(pvc.metadata.labels!["app.kubernetes.io/name"]).toBe("klite");
  });

  test("replicated mode: StatefulSet, headless Service, Role, Service selecting the primary, accepted by the API server", async () => {
    const objs = await dryRun("dry", REPLICATED);
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(["Role/klite", "RoleBinding/klite", "Service/klite", "Service/klite-headless", "ServiceAccount/klite", "StatefulSet/klite"]);
    const sts = find(objs, "StatefulSet")!;
    expect(sts.spec).toMatchObject({ replicas: 2, podManagementPolicy: "Parallel", serviceName: "klite-headless" });
    expect(sts.spec.volumeClaimTemplates[0].metadata.name).toBe("data");
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("10Gi");
    expectHardenedPod(sts);
    const pod = sts.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey).toBe("kubernetes.io/hostname");
    const args: string[] = container(sts).args;
    expect(args).toEqual(expect.arrayContaining([
      "--advertised-addr=klite.dry.svc.cluster.local:9092", "--s3-bucket=my-klite-data", "--s3-region=us-west-2",
      "--replication-addr=:9093", "--replication-ack-timeout=5s", "--lease-duration=15s", "--lease-renew-interval=5s", "--lease-retry-interval=2s",
      "--label-selector=app.kubernetes.io/name=klite,app.kubernetes.io/instance=klite",
    ]));
    const env = Object.fromEntries(container(sts).env.map((e: any) => [e.name, e.value ?? null]));
    expect(env.NODE_EXTRA_CA_CERTS).toBe("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
    const svc = objs.find((o) => o.kind === "Service" && o.metadata.name === "klite")!;
    expect(svc.spec.selector).toEqual({ "app.kubernetes.io/name": "klite", "app.kubernetes.io/instance": "klite", "klite.io/role": "primary" });
    const headless = objs.find((o) => o.kind === "Service" && o.metadata.name === "klite-headless")!;
    expect(headless.spec.clusterIP).toBe("None");
    expect(headless.spec.ports).toEqual([expect.objectContaining({ name: "replication", port: 9093 })]);
    const role = find(objs, "Role") as any;
    expect(role.rules).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "patch"] }]);
  });

  test("the page's examples: overrides, IRSA, MinIO with an existing Secret, another release name", async () => {
    const a = await dryRun("dry", ["--set", "broker.defaultPartitions=6", "--set", "persistence.size=50Gi"]);
    expect(container(find(a, "Deployment")!).args).toContain("--default-partitions=6");
    expect(find(a, "PersistentVolumeClaim")!.spec.resources.requests.storage).toBe("50Gi");
    const b = await dryRun("dry", ["--set", "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn=arn:aws:iam::123456789:role/klite-s3-role", "--set", "s3.bucket=my-klite-data", "--set", "s3.region=us-west-2"]);
    expect(find(b, "ServiceAccount")!.metadata.annotations!["eks.amazonaws.com/role-arn"]).toBe("arn:aws:iam::123456789:role/klite-s3-role");
    const c = await dryRun("dry", ["--set", "s3.bucket=klite", "--set", "s3.endpoint=http://minio.minio.svc.cluster.local:9000", "--set", "s3.existingSecret=minio-credentials"]);
    const dc = container(find(c, "Deployment")!);
    expect(dc.args).toEqual(expect.arrayContaining(["--s3-bucket=klite", "--s3-endpoint=http://minio.minio.svc.cluster.local:9000"]));
    expect(dc.envFrom).toEqual([{ secretRef: { name: "minio-credentials" } }]);
    // One cluster id for the release, the same in both modes (the replicated pods start at once, fresh).
    const clusterId = (w: Obj) => container(w).args.find((x: string) => x.startsWith("--cluster-id="));
    expect(clusterId(find(a, "Deployment")!)).toMatch(/^--cluster-id=[0-9a-f]{22}$/);
    expect(clusterId(find(await dryRun("dry", REPLICATED), "StatefulSet")!)).toBe(clusterId(find(a, "Deployment")!));
    // Release "kafka": names get the chart's suffix, the headless Service is <release>-klite-headless.
    const manifest = await cluster.helm(["template", "kafka", CHART, "--namespace", "dry", ...REPLICATED]);
    expect(manifest).toContain("name: kafka-klite-headless");
    expect(manifest).toContain("--advertised-addr=kafka-klite.dry.svc.cluster.local:9092");
  });

  test("bad values fail with a message (every Helm)", async () => {
    for (const { name, helm } of helms()) {
      const tpl = (...v: string[]) => refused(helm(["template", "klite", CHART, ...v]));
      expect(`${name}: ${await tpl("--set", "replication.enabled=true")}`).toContain("replication.enabled=true requires s3.bucket");
      expect(`${name}: ${await tpl("--set", "brokr.logLevel=debug")}`).toMatch(/brokr/);
      expect(`${name}: ${await tpl("--set", "broker.logLevel=verbose")}`).toMatch(/logLevel/);
      expect(`${name}: ${await tpl("--set", "broker.defaultPartitions=many")}`).toMatch(/defaultPartitions/);
      expect(`${name}: ${await tpl("--set", "replication.leaseDuration=15")}`).toMatch(/leaseDuration/);
      expect(`${name}: ${await tpl("--set", "persistence.sise=5Gi")}`).toMatch(/sise/);
      expect(`${name}: ${await tpl("--set", "s3.bucket=My_Bucket")}`).toMatch(/bucket/);
      // and `helm install` refuses the same before creating anything
      expect(`${name}: ${await refused(helm(["install", "bad", CHART, "--namespace", "dry", "--set", "brokr.logLevel=debug"]))}`).toMatch(/brokr/);
    }
    expect(await cluster.kubectl(["get", "all", "-n", "dry", "-l", "app.kubernetes.io/instance=bad", "-o", "name"])).toBe("");
  });

  describe("helm install", () => {
    test("single mode: one pod from the Deployment, no API access for it, the PVC kept on uninstall", async () => {
      const out = await cluster.helm(["install", "klite", CHART, "--namespace", "single", "--create-namespace"]);
      expect(out).toContain("klite.single.svc.cluster.local:9092"); // NOTES.txt: how to connect
      const pods = await waitForPods("single", 1);
      expect(pods[0].metadata.name).toStartWith("klite-");
      expect(pods[0].spec.containers[0].args).toContain("--advertised-addr=klite.single.svc.cluster.local:9092");
      const sa = "system:serviceaccount:single:klite";
      expect(await canI(["patch", "pods"], "single", sa)).toBe("no");
      expect(await canI(["get", "pods"], "single", sa)).toBe("no");
      await cluster.helm(["uninstall", "klite", "--namespace", "single"]);
      expect((await cluster.json(["get", "pvc", "-n", "single"])).items.map((p: Obj) => p.metadata.name)).toEqual(["klite"]);
      // The page's command deletes it.
      await cluster.kubectl(["delete", "pvc", "-n", "single", "-l", "app.kubernetes.io/name=klite"]);
      expect((await cluster.json(["get", "pvc", "-n", "single"])).items).toEqual([]);
    });

    test("replicated mode: pods klite-0 and klite-1 with PVCs data-klite-0/1; the service account may get, list and patch pods here and nothing more", async () => {
      const out = await cluster.helm(["install", "klite", CHART, "--namespace", "repl", "--create-namespace", ...REPLICATED]);
      expect(out).toContain("klite.io/role=primary");
      const pods = await waitForPods("repl", 2);
      expect(pods.map((p) => p.metadata.name).sort()).toEqual(["klite-0", "klite-1"]);
      const pvcs = await until(async () => {
        const names = (await cluster.json(["get", "pvc", "-n", "repl"])).items.map((p: Obj) => p.metadata.name).sort();
        return names.length === 2 ? names : null;
      });
      expect(pvcs).toEqual(["data-klite-0", "data-klite-1"]);
      const sa = "system:serviceaccount:repl:klite";
      for (const verb of ["get", "list", "patch"]) expect(`${verb}: ${await canI([verb, "pods"], "repl", sa)}`).toBe(`${verb}: yes`);
      for (const [what, ns] of [[["delete", "pods"], "repl"], [["create", "pods"], "repl"], [["update", "pods"], "repl"], [["get", "secrets"], "repl"], [["patch", "statefulsets"], "repl"], [["patch", "pods"], "default"], [["list", "pods"], "kube-system"]] as [string[], string][]) {
        expect(`${what.join(" ")} in ${ns}: ${await canI(what, ns, sa)}`).toBe(`${what.join(" ")} in ${ns}: no`);
      }
      await cluster.helm(["uninstall", "klite", "--namespace", "repl"]);
    });
  });
});

async function until<T>(f: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await f();
    if (v) return v;
    await Bun.sleep(250);
  }
  throw new Error(`not within ${timeoutMs} ms`);
}

async function waitForPods(ns: string, n: number): Promise<any[]> {
  return until(async () => {
    const items = (await cluster.json(["get", "pods", "-n", ns, "-l", "app.kubernetes.io/name=klite"])).items;
    return items.length === n ? items : null;
  });
}

async function canI(what: string[], ns: string, as: string): Promise<string> {
  // `auth can-i` exits 1 for "no".
  return (await cluster.kubectl(["auth", "can-i", ...what, "-n", ns, `--as=${as}`]).catch((e: Error) => (/\bno\b/.test(e.message) ? "no" : Promise.reject(e)))).trim();
}

// Helm 3 only adds checks above; if it cannot be built, say so (and fail under CI=true).
if (!v3.ok) describeWithPeer(HELM3_PEER_NAME, v3, () => {});
