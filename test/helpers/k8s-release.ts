// The chart installed in replicated mode on a real control plane, its pods run by the test's kubelet from the
// image's root filesystem, MinIO as the bucket: what test/k8s/failover.test.ts and scripts/bench/k8s-failover.ts
// drive, inside a network namespace of their own (test/helpers/netns.ts). See test/helpers/kubelet.ts for how the
// pod network, DNS and the Service address are played.
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ensureBinary } from "./binary.ts";
import { BUN, ROOT, tempDir } from "./broker.ts";
import { Kubelet, ServiceProxy } from "./kubelet.ts";
import { startCluster, type Cluster } from "./kubernetes.ts";
import { MINIO_PASSWORD, MINIO_USER, startMinio, type MinioServer } from "./minio.ts";

export const NAMESPACE = "kafka";
export const SERVICE = "klite";
export const FQDN = `${SERVICE}.${NAMESPACE}.svc.cluster.local`;

export interface ReplicatedRelease {
  cluster: Cluster;
  minio: MinioServer;
  kubelet: Kubelet;
  proxy: ServiceProxy;
  dir: string;
  /** A hosts file answering the cluster's names, for clients. */
  hosts: string;
  /** The Service's address as clients use it. */
  bootstrap: string;
  /** Pods labelled klite.io/role=primary. */
  primaries(): Promise<string[]>;
  /** Pod IPs the Service's EndpointSlices list as ready for the Kafka port. */
  endpoints(): string[];
  podIp(pod: string): string;
  /** The pod's GET /replication on its health port (null while it does not answer). */
  replication(pod: string): Promise<any | null>;
  /** Whether the primary pod has a standby in sync (acknowledgements wait for it, and it may take over). */
  standbyInSync(primary: string): Promise<boolean>;
  /** Starts test/k8s/client.ts with the cluster's /etc/hosts. */
  client(args: string[]): ClientProcess;
  stop(): Promise<void>;
}

export interface ClientProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  lines(): string[];
  stderr(): string;
  exited: Promise<number>;
}

export async function installReplicated(opts: { values?: string[]; log?: (l: string) => void } = {}): Promise<ReplicatedRelease> {
  const dir = tempDir("klite-k8s-release-");
  const binary = join(dir, "klite");
  copyFileSync(await ensureBinary(), binary);
  const minio = await startMinio();
  let cluster: Cluster | null = null;
  let kubelet: Kubelet | null = null;
  let proxy: ServiceProxy | null = null;
  const stop = async () => {
    await kubelet?.stop();
    await proxy?.stop();
    await cluster?.stop();
    await minio.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await minio.createBucket("klite");
    cluster = await startCluster({ serviceClusterIpRange: "10.96.0.0/24" });
    const c = cluster;
    await c.kubectl(["create", "namespace", NAMESPACE]);
    await c.kubectl(["create", "secret", "generic", "minio-credentials", "-n", NAMESPACE, `--from-literal=AWS_ACCESS_KEY_ID=${MINIO_USER}`, `--from-literal=AWS_SECRET_ACCESS_KEY=${MINIO_PASSWORD}`]);
    await c.helm([
      "install", "klite", join(ROOT, "charts/klite"), "--namespace", NAMESPACE,
      "--set", "replication.enabled=true", "--set", "s3.bucket=klite", "--set", `s3.endpoint=${minio.endpoint}`,
      "--set", "s3.region=us-east-1", "--set", "s3.existingSecret=minio-credentials",
      ...(opts.values ?? []),
    ]);
    proxy = new ServiceProxy(c, NAMESPACE);
    await proxy.start();
    kubelet = new Kubelet({ cluster: c, namespace: NAMESPACE, podNet: "10.244.1", binary, dir, log: opts.log });
    await kubelet.start();
    const svc = await c.api("GET", `/api/v1/namespaces/${NAMESPACE}/services/${SERVICE}`);
    const hosts = join(dir, "client-hosts");
    writeFileSync(hosts, `127.0.0.1 localhost\n${svc.spec.clusterIP} ${FQDN}\n`);
    const k = kubelet;
    const p = proxy;
    const replication = (pod: string): Promise<any> =>
      fetch(`http://${k.podIp(pod)}:8080/replication`, { signal: AbortSignal.timeout(2000) }).then((res) => (res.ok ? res.json() : null), () => null);
    return {
      cluster: c,
      minio,
      kubelet: k,
      proxy: p,
      dir,
      hosts,
      bootstrap: `${FQDN}:9092`,
      async primaries() {
        const list = await c.api("GET", `/api/v1/namespaces/${NAMESPACE}/pods?labelSelector=${encodeURIComponent("klite.io/role=primary")}`);
        return list.items.map((i: any) => i.metadata.name).sort();
      },
      endpoints: () => p.ready(SERVICE, "kafka").map((e) => e.ip).sort(),
      podIp: (pod) => k.podIp(pod),
      replication,
      async standbyInSync(primary) {
        const st = await replication(primary);
        return st?.role === "primary" && st?.standby?.inSync === true;
      },
      client: (args) => spawnClient(hosts, args),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** test/k8s/client.ts in its own mount namespace, with `hosts` as its /etc/hosts (cluster DNS for a client). */
export function spawnClient(hosts: string, args: string[]): ClientProcess {
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const script = `mount --bind ${q(hosts)} /etc/hosts && exec ${q(BUN)} ${q(join(ROOT, "test/k8s/client.ts"))} "$@"`;
  const proc = Bun.spawn(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, "client", ...args], { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  void (async () => {
    for await (const ch of proc.stdout) out += dec.decode(ch, { stream: true });
  })();
  void (async () => {
    for await (const ch of proc.stderr) err += dec.decode(ch, { stream: true });
  })();
  return { proc, lines: () => out.split("\n").filter(Boolean), stderr: () => err, exited: proc.exited };
}

/** Polls until f returns a truthy value; the error names what was awaited. */
export async function until<T>(what: string, f: () => Promise<T> | T, timeoutMs = 60_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await f();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await Bun.sleep(everyMs);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
}
