// A real Kubernetes control plane as a test peer (no container engine needed): etcd, kube-apiserver,
// kube-controller-manager and kubectl built from the Go module proxy with the wrapper modules in test/k8s/peers/
// (pinned by their go.mod and go.sum), and Helm with `go install helm.sh/helm/v4/cmd/helm@<pinned>`, once, into
// PEERS_DIR/kubernetes-<hash>/ and PEERS_DIR/helm-<version>/. Cold, on 2 cores: about 8 minutes and 1.8 GB of RAM
// (kube-apiserver); Go's module and build caches make a rebuild after a change seconds to a minute.
//
// startCluster() runs one per test file on random 127.0.0.1 ports (about 3 s to /readyz), with an admin token
// (system:masters) in a kubeconfig, and stops it by pid (SIGKILL, then its directory is removed). See
// ../shared/notes/kubernetes-testbed.md for what works on it: no scheduler, no kubelet, no kube-proxy, no DNS.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ROOT, tempDir } from "./broker.ts";
import { buildOnce, freePort, goInstall, peer, run, which, type PeerResult } from "./peers.ts";

export { freePort };

export const KUBERNETES_VERSION = "v1.35.4";
export const ETCD_VERSION = "v3.6.5";
export const HELM_VERSION = "v4.3.2";
export const CONTROL_PLANE_PEER_NAME = `kubernetes control plane (${KUBERNETES_VERSION}, etcd ${ETCD_VERSION})`;
export const HELM_PEER_NAME = `helm (${HELM_VERSION})`;
/** Users may still run Helm 3 (the page asks for 3.8+): the chart's rendering and refusals are checked with 3.8 too. */
export const HELM3_VERSION = "v3.8.2"; // the oldest Helm the page supports
export const HELM3_PEER_NAME = `helm (${HELM3_VERSION})`;

const PEERS_SRC = join(ROOT, "test", "k8s", "peers");
const MODULES = { kubernetes: ["go.mod", "go.sum", "tools.go"], etcd: ["go.mod", "go.sum", "tools.go"] } as const;

let binDir: string | null = null;
let helmPath: string | null = null;
let helm3Path: string | null = null;

function goEnv(): Record<string, string> {
  return { GOFLAGS: "-mod=readonly", CGO_ENABLED: "0" };
}

async function installControlPlane(): Promise<string> {
  if (!which("go")) throw new Error("go is not on PATH (needed to build etcd and Kubernetes)");
  const sources = Object.entries(MODULES).flatMap(([m, files]) => files.map((f) => join(PEERS_SRC, m, f)));
  const dir = await buildOnce("kubernetes", sources, async (tmp) => {
    for (const [m, files] of Object.entries(MODULES)) {
      mkdirSync(join(tmp, "src", m), { recursive: true });
      for (const f of files) copyFileSync(join(PEERS_SRC, m, f), join(tmp, "src", m, f));
    }
    const bin = join(tmp, "bin");
    const v = KUBERNETES_VERSION;
    const minor = v.split(".")[1];
    const x = (pkg: string) => `-X ${pkg}.gitVersion=${v} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}`;
    const ldflags = `-s -w ${x("k8s.io/component-base/version")} ${x("k8s.io/client-go/pkg/version")}`;
    // One at a time: kube-apiserver alone peaks at about 1.8 GB while linking.
    for (const cmd of ["kubectl", "kube-controller-manager", "kube-apiserver"]) {
      await run(["go", "build", "-trimpath", `-ldflags=${ldflags}`, "-o", join(bin, cmd), `k8s.io/kubernetes/cmd/${cmd}`], { cwd: join(tmp, "src", "kubernetes"), env: goEnv(), timeoutMs: 40 * 60_000 });
    }
    await run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", join(bin, "etcd"), "go.etcd.io/etcd/server/v3"], { cwd: join(tmp, "src", "etcd"), env: goEnv(), timeoutMs: 20 * 60_000 });
    rmSync(join(tmp, "src"), { recursive: true, force: true });
  });
  return join(dir, "bin");
}

/** Helm with its version set as helm's Makefile sets it. */
function installHelm(version: string): Promise<string> {
  const major = version.split(".")[0];
  const flags = ["-trimpath", `-ldflags=-s -w -X helm.sh/helm/${major}/internal/version.version=${version}`];
  return goInstall(`helm-${version}`, `helm.sh/helm/${major}/cmd/helm@${version}`, { flags, timeoutMs: 30 * 60_000 });
}

/** Finds or builds etcd, kube-apiserver, kube-controller-manager and kubectl; the path is their bin directory. */
export async function controlPlane(): Promise<PeerResult> {
  const r = await peer(CONTROL_PLANE_PEER_NAME, installControlPlane);
  if (r.ok) binDir = r.path;
  return r;
}

/** Finds or builds helm; the path is the executable. */
export async function helm(): Promise<PeerResult> {
  const r = await peer(HELM_PEER_NAME, () => installHelm(HELM_VERSION));
  if (r.ok) helmPath = r.path;
  return r;
}

/** Finds or builds Helm 3 (only for rendering checks: the cluster tests use Helm 4). */
export async function helm3(): Promise<PeerResult> {
  const r = await peer(HELM3_PEER_NAME, () => installHelm(HELM3_VERSION));
  if (r.ok) helm3Path = r.path;
  return r;
}

export function helm3Binary(): string {
  if (!helm3Path) throw new Error("helm 3 is not installed: await helm3() first");
  return helm3Path;
}

/** Both peers; the first failure wins. */
export async function kubernetesPeers(): Promise<PeerResult> {
  const [cp, h] = await Promise.all([controlPlane(), helm()]);
  return !cp.ok ? cp : h;
}

export function binary(name: "etcd" | "kube-apiserver" | "kube-controller-manager" | "kubectl"): string {
  if (!binDir) throw new Error("the control plane is not installed: await controlPlane() first");
  return join(binDir, name);
}

export function helmBinary(): string {
  if (!helmPath) throw new Error("helm is not installed: await helm() first");
  return helmPath;
}

export interface Cluster {
  dir: string;
  /** https://127.0.0.1:<port> */
  server: string;
  /** Admin kubeconfig (token of a system:masters user). */
  kubeconfig: string;
  /** The API server's serving certificate (it is its own CA). */
  caFile: string;
  /** The admin's bearer token. */
  token: string;
  /** One API request as the admin (JSON in and out; merge patches with `patch`); rejects on a non-2xx status. */
  api<T = any>(method: string, path: string, body?: unknown, opts?: { patch?: boolean; allow404?: boolean }): Promise<T>;
  /** kubectl with the admin kubeconfig; resolves with stdout, rejects with stderr. */
  kubectl(args: string[], opts?: { stdin?: string; timeoutMs?: number }): Promise<string>;
  /** kubectl ... -o json, parsed. */
  json<T = any>(args: string[]): Promise<T>;
  /** helm with the admin kubeconfig and a private config/cache dir. */
  helm(args: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** A kubeconfig for a bearer token (e.g. from `kubectl create token`) in a namespace. */
  tokenKubeconfig(token: string, namespace: string, path: string): string;
  pids(): number[];
  stop(): Promise<void>;
}

type Proc = Subprocess<"ignore", "ignore", "pipe">;

function spawnLogged(cmd: string[], log: string): Proc {
  return Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: Bun.file(log) as never, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" } }) as unknown as Proc;
}

async function waitFor(what: string, check: () => Promise<boolean>, procs: Proc[], logs: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = procs.findIndex((p) => p.exitCode !== null);
    if (dead >= 0) throw new Error(`${what}: a process exited (${procs[dead]!.exitCode}): ${tail(logs[dead]!)}`);
    if (await check().catch(() => false)) return;
    await Bun.sleep(100);
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms: ${logs.map(tail).join("\n")}`);
}

function tail(path: string): string {
  try {
    return readFileSync(path, "utf8").trim().split("\n").slice(-10).join("\n");
  } catch {
    return "";
  }
}

/**
 * Starts etcd and kube-apiserver (and kube-controller-manager unless `controllers: false`) on random 127.0.0.1
 * ports. The controller manager runs without the node-lifecycle controller: there is no kubelet to renew the test's
 * Node, and that controller would otherwise mark its pods not ready after 40 s.
 */
export async function startCluster(opts: { controllers?: boolean; serviceClusterIpRange?: string } = {}): Promise<Cluster> {
  const dir = tempDir("klite-k8s-");
  const procs: Proc[] = [];
  const logs: string[] = [];
  const start = (name: string, cmd: string[]) => {
    const log = join(dir, `${name}.log`);
    procs.push(spawnLogged(cmd, log));
    logs.push(log);
  };
  const stop = async () => {
    // All at once with SIGKILL: the API server hangs on SIGTERM once etcd is gone, and nothing here needs a clean exit.
    for (const p of procs) if (p.exitCode === null) process.kill(p.pid, "SIGKILL");
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [etcdClient, etcdPeer, apiPort] = [freePort(), freePort(), freePort()];
    start("etcd", [
      binary("etcd"), "--name=t", `--data-dir=${join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdClient}`, `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
      `--initial-cluster=t=http://127.0.0.1:${etcdPeer}`, "--unsafe-no-fsync", "--log-level=warn",
    ]);
    const token = crypto.randomUUID().replaceAll("-", "");
    writeFileSync(join(dir, "tokens.csv"), `${token},admin,admin-uid,"system:masters"\n`);
    await run(["openssl", "genrsa", "-out", join(dir, "sa.key"), "2048"], { timeoutMs: 60_000 });
    const certDir = join(dir, "certs");
    start("kube-apiserver", [
      binary("kube-apiserver"), `--etcd-servers=http://127.0.0.1:${etcdClient}`, "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1", `--secure-port=${apiPort}`, `--cert-dir=${certDir}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${join(dir, "sa.key")}`, `--service-account-signing-key-file=${join(dir, "sa.key")}`,
      `--token-auth-file=${join(dir, "tokens.csv")}`, "--authorization-mode=RBAC",
      `--service-cluster-ip-range=${opts.serviceClusterIpRange ?? "10.0.0.0/24"}`, "--endpoint-reconciler-type=none",
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    const caFile = join(certDir, "apiserver.crt");
    await waitFor("kube-apiserver", async () => {
      if (!existsSync(caFile)) return false;
      const r = await fetch(`${server}/readyz`, { tls: { rejectUnauthorized: false } });
      return r.status === 200;
    }, procs, logs, 120_000);
    const kubeconfig = join(dir, "admin.kubeconfig");
    const ca = readFileSync(caFile, "utf8");
    const cluster: Cluster = {
      dir,
      server,
      kubeconfig,
      caFile,
      token,
      async api(method, path, body, o = {}) {
        const r = await fetch(`${server}${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, "content-type": o.patch ? "application/merge-patch+json" : "application/json", accept: "application/json" },
          body: body === undefined ? undefined : JSON.stringify(body),
          tls: { ca },
        });
        if (r.status === 404 && o.allow404) return null as never;
        const text = await r.text();
        if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status}: ${text.slice(0, 500)}`);
        return (text ? JSON.parse(text) : null) as never;
      },
      kubectl: (args, o = {}) => run([binary("kubectl"), `--kubeconfig=${kubeconfig}`, ...args], { stdin: o.stdin, timeoutMs: o.timeoutMs ?? 60_000 }),
      json: async (args) => JSON.parse(await cluster.kubectl([...args, "-o", "json"])),
      helm: (args, o = {}) =>
        run([helmBinary(), `--kubeconfig=${kubeconfig}`, ...args], {
          timeoutMs: o.timeoutMs ?? 120_000,
          env: { HELM_CONFIG_HOME: join(dir, "helm", "config"), HELM_CACHE_HOME: join(dir, "helm", "cache"), HELM_DATA_HOME: join(dir, "helm", "data") },
        }),
      tokenKubeconfig(tok, namespace, path) {
        writeFileSync(path, kubeconfigYaml(server, caFile, tok, namespace));
        return path;
      },
      pids: () => procs.map((p) => p.pid),
      stop,
    };
    cluster.tokenKubeconfig(token, "default", kubeconfig);
    if (opts.controllers !== false) {
      start("kube-controller-manager", [
        binary("kube-controller-manager"), `--kubeconfig=${kubeconfig}`, "--leader-elect=false",
        "--bind-address=127.0.0.1", `--secure-port=${freePort()}`, `--service-account-private-key-file=${join(dir, "sa.key")}`,
        `--root-ca-file=${caFile}`, "--controllers=*,-node-lifecycle-controller",
      ]);
      // Ready once it has created the default service account (its serviceaccount controller is running).
      await waitFor("kube-controller-manager", async () => {
        await cluster.kubectl(["get", "serviceaccount", "default", "-n", "default"], { timeoutMs: 5_000 });
        return true;
      }, procs, logs, 120_000);
    }
    return cluster;
  } catch (e) {
    await stop();
    throw e;
  }
}

export function kubeconfigYaml(server: string, caFile: string, token: string, namespace: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "current-context: test",
    "clusters:",
    "- name: test",
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    "users:",
    "- name: test",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: test",
    "  context:",
    "    cluster: test",
    "    user: test",
    `    namespace: ${namespace}`,
    "",
  ].join("\n");
}
