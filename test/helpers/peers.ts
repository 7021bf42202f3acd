// Real test peers (Kafka clients, later MinIO and Apache Kafka): found or installed on first use and cached under
// ~/.cache/klite-test-peers (KLITE_PEERS_DIR overrides). A peer that cannot be installed is reported and its tests
// skipped, except with CI=true, where a failing "<peer> is installed" test fails the run instead.
import { describe, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const CI = process.env.CI === "true";
export const PEERS_DIR = process.env.KLITE_PEERS_DIR ?? join(homedir(), ".cache", "klite-test-peers");
mkdirSync(PEERS_DIR, { recursive: true });

export type PeerResult = { ok: true; path: string } | { ok: false; reason: string };

const memo = new Map<string, Promise<PeerResult>>();

/** Finds or installs a peer once per test process; `install` returns its path or throws why it cannot. */
export function peer(name: string, install: () => Promise<string>): Promise<PeerResult> {
  let p = memo.get(name);
  if (!p) {
    p = install().then(
      (path): PeerResult => ({ ok: true, path }),
      (e: Error): PeerResult => {
        const reason = e?.message ?? String(e);
        process.stderr.write(`\n[test peers] ${name} is unavailable: ${reason}${CI ? " (CI=true: failing)" : " (its tests are skipped)"}\n`);
        return { ok: false, reason };
      },
    );
    memo.set(name, p);
  }
  return p;
}

/** describe() when the peer is there; otherwise a skipped describe, or under CI a failing test naming the reason. */
export function describeWithPeer(name: string, result: PeerResult, fn: () => void): void {
  if (result.ok) {
    describe(name, fn);
  } else if (CI) {
    test(`${name} is installed`, () => {
      throw new Error(`test peer ${name} could not be installed: ${result.reason}`);
    });
  } else {
    describe.skip(`${name} (unavailable: ${result.reason})`, fn);
  }
}

/**
 * A peer built from source files into PEERS_DIR/<prefix>-<hash of the files>/, once: `build` fills a temp dir next
 * to it that is then renamed into place, so a concurrent test process sees nothing or a complete dir, and a changed
 * source gets a new dir. Resolves with the dir.
 */
export async function buildOnce(prefix: string, sources: string[], build: (dir: string) => Promise<void>): Promise<string> {
  const h = createHash("sha256");
  for (const f of sources) h.update(readFileSync(f)).update("\0");
  const dir = join(PEERS_DIR, `${prefix}-${h.digest("hex").slice(0, 16)}`);
  const ready = join(dir, "READY");
  if (existsSync(ready)) return dir;
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    await build(tmp);
    writeFileSync(join(tmp, "READY"), `${new Date().toISOString()}\n`);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (!existsSync(ready)) throw e; // someone else finished first: use theirs
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/**
 * `go install <pkg>@<version>` once into PEERS_DIR/<dirName>/<bin> (built into a private directory, then renamed
 * into place, so a concurrent test process sees nothing or the binary). Resolves with the binary's path.
 */
export async function goInstall(dirName: string, pkgAtVersion: string, opts: { flags?: string[]; timeoutMs?: number } = {}): Promise<string> {
  if (!which("go")) throw new Error(`go is not on PATH (needed to build ${pkgAtVersion})`);
  const name = pkgAtVersion.replace(/@.*$/, "").split("/").pop()!;
  const dir = join(PEERS_DIR, dirName);
  const bin = join(dir, name);
  if (existsSync(bin)) return bin;
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(tmp, { recursive: true });
  try {
    await run(["go", "install", ...(opts.flags ?? []), pkgAtVersion], { env: { GOBIN: tmp, CGO_ENABLED: "0" }, timeoutMs: opts.timeoutMs ?? 40 * 60_000 });
    mkdirSync(dir, { recursive: true });
    if (!existsSync(bin)) renameSync(join(tmp, name), bin);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}

/** A free TCP port on 127.0.0.1 (bound and released; the server under test binds it right after). */
export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** Runs a command; resolves with stdout, rejects with its stderr tail on a non-zero exit. */
export async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number; stdin?: string } = {}): Promise<string> {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    env: { ...process.env, ...(opts.env ?? {}) },
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 600_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${(err || out).trim().split("\n").slice(-15).join("\n")}`);
  return out;
}

export function which(bin: string): string | null {
  return Bun.which(bin);
}

let aptUpdated = false;

/** apt-get install (as root, or through passwordless sudo), with one `apt-get update` retry. */
export async function aptInstall(packages: string[]): Promise<void> {
  const sudo = process.getuid?.() === 0 ? [] : which("sudo") ? ["sudo", "-n"] : null;
  if (sudo === null) throw new Error(`not root and no sudo: cannot apt-get install ${packages.join(" ")}`);
  if (!which("apt-get")) throw new Error("no apt-get on this machine");
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const install = () => run([...sudo, "apt-get", "install", "-y", "--no-install-recommends", ...packages], { env, timeoutMs: 900_000 });
  try {
    await install();
  } catch (e) {
    if (aptUpdated) throw e;
    aptUpdated = true;
    await run([...sudo, "apt-get", "update"], { env, timeoutMs: 900_000 });
    await install();
  }
}

// --- librdkafka peers (Debian packages) -----------------------------------------------------------------------

export function kcat(): Promise<PeerResult> {
  return peer("kcat", async () => {
    const found = which("kcat") ?? which("kafkacat");
    if (found) return found;
    await aptInstall(["kcat"]);
    const path = which("kcat");
    if (!path) throw new Error("apt-get installed kcat but it is not on PATH");
    return path;
  });
}

/** The Debian python3 with confluent_kafka (python3-confluent-kafka is built for /usr/bin/python3). */
export function pythonConfluent(): Promise<PeerResult> {
  return peer("confluent-kafka (python)", async () => {
    const python = "/usr/bin/python3";
    const check = () => run([python, "-c", "import confluent_kafka; print(confluent_kafka.libversion()[0])"], { timeoutMs: 60_000 });
    if (existsSync(python)) {
      try {
        await check();
        return python;
      } catch {
        // not installed yet
      }
    }
    await aptInstall(["python3-confluent-kafka"]);
    await check();
    return python;
  });
}
