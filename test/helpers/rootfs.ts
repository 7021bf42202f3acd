// The distroless image's root filesystem without a container engine: Dockerfile.distroless is read for its base
// image, binary path, user, env and entrypoint; the base's Debian packages (what distroless puts in it: base-files,
// netbase, tzdata, ca-certificates, then libc6, and libssl3 for the variants with it) are fetched with
// `apt-get download` and unpacked with `dpkg -x`, plus the files distroless adds (passwd and group with the nonroot
// user 65532, nsswitch.conf, /tmp, the CA bundle). Cached once per Dockerfile in PEERS_DIR/distroless-<hash>/.
//
// runInRootfs() starts the binary in it the way a container runtime would: a private mount namespace, the root
// bind-mounted read-only, /data (a host dir) and /tmp (tmpfs) writable, /proc and a few /dev nodes, optionally a
// service-account directory at /var/run/secrets/kubernetes.io/serviceaccount; then chroot as the image's user and
// exec of the entrypoint. No shell runs inside; the process's pid is the broker's.
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ROOT } from "./broker.ts";
import { buildOnce, peer, run, which, type PeerResult } from "./peers.ts";

export const DOCKERFILE = join(ROOT, "Dockerfile.distroless");
const STATIC_PACKAGES = ["base-files", "netbase", "tzdata", "ca-certificates"];
/** Distroless Debian 12 bases with glibc and the packages each adds to the static ones. */
const GLIBC_BASES: Record<string, string[]> = {
  "base-nossl-debian12": ["libc6"],
  "base-debian12": ["libc6", "libssl3"],
  "cc-debian12": ["libc6", "libssl3", "libgcc-s1", "libgomp1", "libstdc++6"],
};

export interface ImageSpec {
  base: string;
  packages: string[];
  binaryPath: string;
  user: { uid: number; gid: number };
  env: Record<string, string>;
  entrypoint: string[];
  dataDir: string;
}

/** What Dockerfile.distroless says about its final stage. */
export function readDockerfile(text = readFileSync(DOCKERFILE, "utf8")): ImageSpec {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const froms = lines.map((l, i) => [l, i] as const).filter(([l]) => /^FROM\s/i.test(l));
  const [lastFrom, start] = froms[froms.length - 1]!;
  const stage = lines.slice(start + 1);
  const base = /^FROM\s+gcr\.io\/distroless\/([^:@\s]+)/i.exec(lastFrom)?.[1];
  if (!base || !GLIBC_BASES[base]) throw new Error(`Dockerfile.distroless: final base ${lastFrom} is not a known distroless glibc base`);
  const copy = stage.filter((l) => /^COPY\s/i.test(l) && /klite/.test(l)).map((l) => l.split(/\s+/)).find((w) => w[w.length - 1]!.endsWith("/klite"));
  const user = /^USER\s+(\d+)(?::(\d+))?/i.exec(stage.find((l) => /^USER\s/i.test(l)) ?? "");
  const entry = stage.find((l) => /^ENTRYPOINT\s/i.test(l));
  const env: Record<string, string> = {};
  for (const l of stage.filter((l) => /^ENV\s/i.test(l))) {
    for (const m of l.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, "");
  }
  const volume = stage.find((l) => /^VOLUME\s/i.test(l));
  if (!copy || !user || !entry) throw new Error("Dockerfile.distroless: expected a COPY of the binary, USER and ENTRYPOINT in the final stage");
  return {
    base,
    packages: [...STATIC_PACKAGES, ...GLIBC_BASES[base]!],
    binaryPath: copy[copy.length - 1]!,
    user: { uid: Number(user[1]), gid: Number(user[2] ?? user[1]) },
    env,
    entrypoint: JSON.parse(entry.replace(/^ENTRYPOINT\s+/i, "")),
    dataDir: volume ? JSON.parse(volume.replace(/^VOLUME\s+/i, ""))[0] : "/data",
  };
}

async function aptDownload(packages: string[], dir: string): Promise<void> {
  try {
    await run(["apt-get", "download", ...packages], { cwd: dir, timeoutMs: 600_000 });
  } catch (e) {
    // Stale package lists (404 for an outdated version): refresh them once, as root or through sudo.
    const sudo = process.getuid?.() === 0 ? [] : which("sudo") ? ["sudo", "-n"] : null;
    if (sudo === null) throw e;
    await run([...sudo, "apt-get", "update"], { timeoutMs: 600_000 });
    await run(["apt-get", "download", ...packages], { cwd: dir, timeoutMs: 600_000 });
  }
}

async function buildRootfs(spec: ImageSpec, dir: string): Promise<void> {
  const debs = join(dir, "debs");
  const root = join(dir, "rootfs");
  mkdirSync(debs, { recursive: true });
  mkdirSync(root, { recursive: true });
  await aptDownload(spec.packages, debs);
  for (const deb of readdirSync(debs).filter((f) => f.endsWith(".deb"))) await run(["dpkg", "-x", join(debs, deb), root], { timeoutMs: 120_000 });
  const { uid, gid } = spec.user;
  const file = (path: string, text: string, mode = 0o644) => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
    chmodSync(join(root, path), mode);
  };
  const dir_ = (path: string, mode: number, owner = 0) => {
    mkdirSync(join(root, path), { recursive: true });
    chmodSync(join(root, path), mode);
    chownSync(join(root, path), owner, owner);
  };
  // What distroless adds to the packages (its passwd, group, nsswitch.conf, tmp.tar and the generated CA bundle).
  file("etc/passwd", `root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:${uid}:${gid}:nonroot:/home/nonroot:/sbin/nologin\n`);
  file("etc/group", `root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:${gid}:\n`);
  file("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n");
  const mozilla = join(root, "usr/share/ca-certificates/mozilla");
  const bundle = existsSync(mozilla) ? readdirSync(mozilla).sort().map((f) => readFileSync(join(mozilla, f), "utf8")).join("") : "";
  file("etc/ssl/certs/ca-certificates.crt", bundle);
  dir_("tmp", 0o1777);
  dir_("home/nonroot", 0o700, uid);
  // What Dockerfile.distroless adds: the data dir owned by the user, the binary's place.
  dir_(spec.dataDir.slice(1), 0o750, uid);
  file(spec.binaryPath.slice(1), "", 0o555);
  // What a container runtime mounts over: /proc, /dev nodes, /etc/hosts, the service account.
  dir_("proc", 0o555);
  for (const d of ["null", "zero", "random", "urandom"]) file(`dev/${d}`, "", 0o666);
  file("etc/hosts", "127.0.0.1 localhost\n");
  dir_(serviceAccountDir(root).slice(1), 0o755);
}

/** Where /var/run/secrets/kubernetes.io/serviceaccount is inside root (dpkg -x leaves /var/run a directory; after
 * base-files' postinst it would be a symlink to /run). Never follows a symlink out of root. */
function serviceAccountDir(root: string): string {
  const varRun = join(root, "var/run");
  const link = existsSync(varRun) && lstatSync(varRun).isSymbolicLink();
  return `${link ? "/run" : "/var/run"}/secrets/kubernetes.io/serviceaccount`;
}

let built: { root: string; spec: ImageSpec } | null = null;

/** Builds (once) the image's root filesystem; the path is the rootfs directory. */
export async function distrolessRootfs(): Promise<PeerResult> {
  const r = await peer("distroless root filesystem (apt-get download + dpkg -x)", async () => {
    for (const bin of ["apt-get", "dpkg", "unshare", "chroot", "mount"]) if (!which(bin)) throw new Error(`${bin} is not on PATH`);
    if (process.getuid?.() !== 0) throw new Error("needs root (mount namespaces, chroot)");
    const spec = readDockerfile();
    // Keyed by the Dockerfile and this file (the recipe): either changing builds it again (seconds).
    const dir = await buildOnce("distroless", [DOCKERFILE, import.meta.path], (tmp) => buildRootfs(spec, tmp));
    return join(dir, "rootfs");
  });
  if (r.ok) built = { root: r.path, spec: readDockerfile() };
  return r;
}

export interface ContainerRun {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  output(): string;
  exited: Promise<number>;
}

/**
 * Runs the image's entrypoint with `args` in the root filesystem: `binary` appears at the image's binary path,
 * `dataDir` (a host dir owned by the image's user) at its data dir, `serviceAccount` (a dir with token, ca.crt,
 * namespace) at /var/run/secrets/kubernetes.io/serviceaccount, `hosts` at /etc/hosts. The environment is the
 * image's ENV plus `env` only.
 */
export function runInRootfs(opts: { binary: string; dataDir: string; args: string[]; env?: Record<string, string>; serviceAccount?: string; hosts?: string }): ContainerRun {
  if (!built) throw new Error("the root filesystem is not built: await distrolessRootfs() first");
  const { root, spec } = built;
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const sa = serviceAccountDir(root);
  const script = [
    "set -e",
    `R=${q(root)}`,
    'mount --bind "$R" "$R"',
    `mount --bind ${q(opts.binary)} "$R"${q(spec.binaryPath)}`,
    `mount -o remount,bind,ro "$R"${q(spec.binaryPath)}`,
    `mount --bind ${q(opts.dataDir)} "$R"${q(spec.dataDir)}`,
    'mount -t tmpfs -o mode=1777,size=256m tmpfs "$R/tmp"',
    'mount -t proc proc "$R/proc"',
    ...["null", "zero", "random", "urandom"].map((d) => `mount --bind /dev/${d} "$R/dev/${d}"`),
    ...(opts.hosts ? [`mount --bind ${q(opts.hosts)} "$R/etc/hosts"`] : []),
    ...(opts.serviceAccount ? [`mount --bind ${q(opts.serviceAccount)} "$R"${q(sa)}`, `mount -o remount,bind,ro "$R"${q(sa)}`] : []),
    'mount -o remount,bind,ro "$R"',
    // The runtime's job ends here: chroot (the host's) switches to the image's root and user, and execs the
    // entrypoint, so this process becomes the broker.
    `exec chroot --userspec=${spec.user.uid}:${spec.user.gid} "$R" ${spec.entrypoint.map(q).join(" ")} "$@"`,
  ].join("\n");
  const env = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/home/nonroot", ...spec.env, ...(opts.env ?? {}) };
  const proc = Bun.spawn(["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, "klite", ...opts.args], {
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const decoder = new TextDecoder();
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) out += decoder.decode(chunk);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  return { proc, pid: proc.pid, output: () => out, exited: proc.exited };
}

export function rootfsSpec(): ImageSpec {
  if (!built) throw new Error("the root filesystem is not built: await distrolessRootfs() first");
  return built.spec;
}

export function rootfsPath(): string {
  if (!built) throw new Error("the root filesystem is not built: await distrolessRootfs() first");
  return built.root;
}
