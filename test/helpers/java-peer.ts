// The Apache Kafka Java client (kafka-clients 4.4.0) as a test peer: test/peers/java/KliteJavaClient.java, a small CLI
// (create-topic / produce / consume / stream / group / admin). Installed once into PEERS_DIR/java-<hash of pom + source>/: Maven copies
// the dependencies into lib/, javac compiles into classes/. A changed pom or source gets a new directory.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ROOT } from "./broker.ts";
import { buildOnce, peer, run, which, type PeerResult } from "./peers.ts";

export const JAVA_SOURCE_DIR = join(ROOT, "test", "peers", "java");
const POM = join(JAVA_SOURCE_DIR, "pom.xml");
const SOURCE = join(JAVA_SOURCE_DIR, "KliteJavaClient.java");
export const JAVA_PEER_NAME = "java (kafka-clients 4.4.0)";

let installedDir: string | null = null;

async function install(): Promise<string> {
  for (const bin of ["java", "javac", "mvn"]) if (!which(bin)) throw new Error(`${bin} is not on PATH`);
  return buildOnce("java", [POM, SOURCE], async (tmp) => {
    writeFileSync(join(tmp, "pom.xml"), readFileSync(POM));
    await run(["mvn", "-B", "-q", "-f", join(tmp, "pom.xml"), "dependency:copy-dependencies", `-DoutputDirectory=${join(tmp, "lib")}`], { cwd: tmp, timeoutMs: 600_000 });
    // -XDignore.symbol.file: no "internal proprietary API" warnings for sun.misc.Signal.
    await run(["javac", "-XDignore.symbol.file", "-encoding", "UTF-8", "-cp", `${join(tmp, "lib")}/*`, "-d", join(tmp, "classes"), SOURCE], { cwd: tmp, timeoutMs: 300_000 });
    if (!existsSync(join(tmp, "classes", "KliteJavaClient.class"))) throw new Error("javac produced no KliteJavaClient.class");
  });
}

/** Finds or builds the Java peer; its path is the install dir (classes/ and lib/). */
export async function javaClient(): Promise<PeerResult> {
  const r = await peer(JAVA_PEER_NAME, install);
  if (r.ok) installedDir = r.path;
  return r;
}

/** The command line that runs KliteJavaClient with args (for spawnMember and friends). */
export function javaCommand(args: string[]): string[] {
  if (!installedDir) throw new Error("the Java peer is not installed: await javaClient() first");
  return ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", `${join(installedDir, "classes")}:${join(installedDir, "lib")}/*`, "KliteJavaClient", ...args];
}

/** Runs KliteJavaClient with args; resolves with its stdout, rejects with its stderr tail on a non-zero exit. */
export function runJava(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<string> {
  return run(javaCommand(args), { timeoutMs: opts.timeoutMs ?? 180_000, env: opts.env });
}

export interface JavaProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  /** Everything it printed so far (stdout and stderr interleaved as they arrived). */
  output(): string;
  kill(signal?: NodeJS.Signals | number): void;
  exited: Promise<number>;
}

/** Starts KliteJavaClient as a long-running child (e.g. `stream`); the caller stops it (SIGTERM) and awaits exited. */
export function spawnJava(args: string[], opts: { env?: Record<string, string> } = {}): JavaProcess {
  const proc = Bun.spawn(javaCommand(args), {
    env: { ...process.env, ...(opts.env ?? {}) },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk, { stream: true });
  };
  const pumped = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
  return {
    proc,
    pid: proc.pid,
    output: () => out,
    kill: (signal = "SIGTERM") => proc.kill(signal),
    exited: proc.exited.then(async (code) => {
      await pumped.catch(() => {});
      return code;
    }),
  };
}
