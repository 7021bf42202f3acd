// The container image without a container engine: Dockerfile.distroless's root filesystem built from the Debian
// packages of its distroless base (test/helpers/rootfs.ts), dist/klite at the Dockerfile's path, run there the
// way a container runtime runs the image: its own mount namespace, the root read-only, only /data and /tmp
// writable, as uid 65532 with no shell in the image. kcat (librdkafka) produces and consumes through it.
// Then the in-cluster path of the pod-role labeller from inside that root: a service-account directory mounted
// where the kubelet mounts it, KUBERNETES_SERVICE_HOST/PORT pointing at a real kube-apiserver, and no
// NODE_EXTRA_CA_CERTS: the broker labels its pod klite.io/role=primary and removes the label on SIGTERM.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, chownSync, writeFileSync, mkdirSync, copyFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { controlPlane, freePort, startCluster, type Cluster } from "../helpers/kubernetes.ts";
import { describeWithPeer, kcat, run } from "../helpers/peers.ts";
import { distrolessRootfs, rootfsPath, rootfsSpec, runInRootfs, type ContainerRun } from "../helpers/rootfs.ts";

const [kcatPeer, rootfsPeer, cpPeer] = await Promise.all([kcat(), distrolessRootfs(), controlPlane()]);
const peersOk = !kcatPeer.ok ? kcatPeer : rootfsPeer;

const kcatPath = () => (kcatPeer.ok ? kcatPeer.path : "kcat");
let work: string;
let binary: string;
const started: ContainerRun[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "klite-distroless-"));
  chmodSync(work, 0o755);
  binary = join(work, "klite");
  copyFileSync(await ensureBinary(), binary);
  chmodSync(binary, 0o555);
}, 300_000);

afterAll(async () => {
  for (const c of started) if (c.proc.exitCode === null) process.kill(c.pid, "SIGKILL");
  await Promise.all(started.map((c) => c.exited));
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A host directory for the container's /data, owned by the image's user. */
function dataDir(name: string): string {
  const d = join(work, name);
  mkdirSync(d, { mode: 0o750 });
  chownSync(d, rootfsSpec().user.uid, rootfsSpec().user.gid);
  return d;
}

function start(args: string[], env: Record<string, string> = {}, serviceAccount?: string, data = dataDir(`data-${started.length}`)) {
  const c = runInRootfs({ binary, dataDir: data, args, env, serviceAccount });
  started.push(c);
  return { c, data };
}

async function waitFor<T>(what: string, f: () => T | Promise<T>, c: ContainerRun, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (c.proc.exitCode !== null) throw new Error(`${what}: klite exited ${c.proc.exitCode}:\n${c.output()}`);
    await Bun.sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms:\n${c.output()}`);
}

function du(path: string): number {
  return Number(Bun.spawnSync(["du", "-sb", path], { stdout: "pipe" }).stdout.toString().split("\t")[0]);
}

describeWithPeer("distroless image (root filesystem from Debian packages)", peersOk, () => {
  test("the image holds the base's libraries and the binary, and no shell", () => {
    const root = rootfsPath();
    const spec = rootfsSpec();
    expect(spec.base).toMatch(/debian12$/);
    expect(spec.user).toEqual({ uid: 65532, gid: 65532 });
    expect(spec.entrypoint).toEqual([spec.binaryPath]);
    for (const sh of ["bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/bash", "bin/busybox"]) expect(existsSync(join(root, sh))).toBe(false);
    // Every library the binary needs (ldd on this machine) is in the image under the same name.
    const ldd = Bun.spawnSync(["ldd", binary], { stdout: "pipe" }).stdout.toString();
    const needed = [...ldd.matchAll(/^\s*(\S+\.so[.\d]*)(?:\s|$)/gm)].map((m) => m[1]!).filter((n) => !n.startsWith("linux-vdso"));
    expect(needed.length).toBeGreaterThan(2);
    for (const lib of needed) {
      const name = lib.split("/").pop()!;
      const found = ["lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "lib64", "lib", "usr/lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu"].some((d) => existsSync(join(root, d, name)));
      expect(`${name}: ${found}`).toBe(`${name}: true`);
    }
    const rootBytes = du(root);
    const binBytes = statSync(binary).size;
    console.log(`[image] binary ${(binBytes / 2 ** 20).toFixed(1)} MiB; base root filesystem ${(rootBytes / 2 ** 20).toFixed(1)} MiB; image ${((rootBytes + binBytes) / 2 ** 20).toFixed(1)} MiB (${spec.base}: ${spec.packages.join(", ")})`);
  });

  test("runs as 65532 on a read-only root, writes only /data, serves kcat, stops cleanly on SIGTERM", async () => {
    const port = freePort();
    const health = freePort();
    const { c, data } = start(["--listen", `127.0.0.1:${port}`, "--health-addr", `127.0.0.1:${health}`, "--wal-sync-interval", "1ms"]);
    await waitFor("startup line", () => /listening on/.test(c.output()), c);
    // The image's ENV names the data dir; the broker says which one it uses.
    expect(c.output()).toContain("data dir /data");
    const status = readFileSync(`/proc/${c.pid}/status`, "utf8");
    expect(status).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(status).toMatch(/^Gid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(readFileSync(`/proc/${c.pid}/cmdline`, "utf8").split("\0")[0]).toBe(rootfsSpec().binaryPath);
    // The root as the broker sees it is read-only; /data and /tmp are the only writable mounts.
    // (Its mount table shows the mounts under its root, relative to it.)
    const mounts = readFileSync(`/proc/${c.pid}/mounts`, "utf8").trim().split("\n").map((l) => l.split(" "));
    const writable = mounts.filter((f) => f[3]!.split(",").includes("rw") && f[2] !== "proc" && !f[1]!.startsWith("/dev/")).map((f) => f[1]);
    expect(writable.sort()).toEqual(["/data", "/tmp"]);
    expect(mounts.find((f) => f[1] === "/")![3]!.split(",")).toContain("ro");

    const r = await fetch(`http://127.0.0.1:${health}/readyz`);
    expect(r.status).toBe(200);
    const bootstrap = `127.0.0.1:${port}`;
    const records = Array.from({ length: 500 }, (_, i) => `distroless-${i}`);
    await run([kcatPath(), "-P", "-b", bootstrap, "-t", "image", "-X", "acks=all"], { stdin: `${records.join("\n")}\n`, timeoutMs: 60_000 });
    const out = await run([kcatPath(), "-C", "-b", bootstrap, "-t", "image", "-o", "beginning", "-e", "-q"], { timeoutMs: 60_000 });
    expect(out.trim().split("\n")).toEqual(records);

    process.kill(c.pid, "SIGTERM");
    expect(await c.exited).toBe(0);
    expect(c.output()).toContain("shut down cleanly");
    // Everything the broker wrote is in /data, owned by the image's user.
    const props = join(data, "meta.properties");
    expect(existsSync(props)).toBe(true);
    expect(statSync(props).uid).toBe(65532);
    expect(existsSync(join(data, "wal"))).toBe(true);
  });

  test("a data dir on the read-only root is refused at start with a message naming it", async () => {
    const { c } = start(["--listen", `127.0.0.1:${freePort()}`, "--data-dir", "/var/lib/klite"]);
    expect(await c.exited).toBe(1);
    expect(c.output()).toMatch(/\/var\/lib\/klite/);
    expect(c.output()).toMatch(/read-only|EROFS|EACCES|permission/i);
  });
});

// --- the in-cluster path of the labeller, from inside the image --------------------------------------------------

const inClusterPeers = !peersOk.ok ? peersOk : cpPeer;
let cluster: Cluster | null = null;

describeWithPeer("pod-role labels from inside the image (in-cluster service account)", inClusterPeers, () => {
  beforeAll(async () => {
    cluster = await startCluster({ controllers: false });
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  test("labels its own pod via the mounted service account without NODE_EXTRA_CA_CERTS, unlabels on SIGTERM", async () => {
    const k = cluster!;
    const ns = "image-test";
    await k.kubectl(["create", "namespace", ns]);
    await k.kubectl(["apply", "-n", ns, "-f", "-"], {
      stdin: [
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: klite}",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: klite}\nrules: [{apiGroups: [''], resources: [pods], verbs: [get, list, patch]}]",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: klite}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: klite}\nsubjects: [{kind: ServiceAccount, name: klite, namespace: image-test}]",
        ...["klite-0", "klite-1"].map((p) => `apiVersion: v1\nkind: Pod\nmetadata: {name: ${p}, labels: {app.kubernetes.io/name: klite, app.kubernetes.io/instance: klite}}\nspec: {serviceAccountName: klite, automountServiceAccountToken: false, containers: [{name: klite, image: klite}]}`),
      ].join("\n---\n"),
    });
    // The old primary crashed with its label still on.
    await k.kubectl(["label", "-n", ns, "pod", "klite-1", "klite.io/role=primary"]);
    // What the kubelet mounts: a bound token, the cluster CA, the namespace.
    const sa = join(work, "serviceaccount");
    mkdirSync(sa, { mode: 0o755 });
    writeFileSync(join(sa, "token"), (await k.kubectl(["create", "token", "klite", "-n", ns])).trim());
    writeFileSync(join(sa, "ca.crt"), readFileSync(k.caFile));
    writeFileSync(join(sa, "namespace"), ns);
    const apiPort = new URL(k.server).port;
    const { c } = start(
      ["--listen", `127.0.0.1:${freePort()}`, "--label-selector", "app.kubernetes.io/name=klite,app.kubernetes.io/instance=klite", "--log-level", "debug"],
      { POD_NAME: "klite-0", KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: apiPort },
      sa,
    );
    const roleOf = async (pod: string) => (await k.json(["get", "pod", pod, "-n", ns])).metadata.labels?.["klite.io/role"] ?? null;
    await waitFor("klite-0 labelled primary", async () => (await roleOf("klite-0")) === "primary", c);
    await waitFor("klite-1's stale label removed", async () => (await roleOf("klite-1")) === null, c);
    expect(c.output()).toContain("via the pod's service account");
    expect(c.output()).not.toMatch(/could not set/);
    process.kill(c.pid, "SIGTERM");
    expect(await c.exited).toBe(0);
    expect(await roleOf("klite-0")).toBe(null);
    expect(c.output()).toContain("removed klite.io/role=primary");
  });
});
