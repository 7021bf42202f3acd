// Apache Kafka for the side-by-side benchmark: the broker and its perf tools from Maven Central jars (pinned in
// scripts/bench/kafka/pom.xml), installed once into ~/.cache/klite-test-peers/kafka-<version>-<hash>/lib
// (KLITE_PEERS_DIR overrides the cache). A broker is a single KRaft node (broker + controller) on 127.0.0.1 with
// its own temp dir, started with the JVM options of Kafka's own scripts (1 GiB heap, G1).
//   bun scripts/bench/kafka.ts install     installs (or finds) the jars and prints their directory
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { Cluster } from "../../src/bench/cluster.ts";

export const KAFKA_VERSION = "4.4.0";
const POM = join(import.meta.dir, "kafka", "pom.xml");
export const PEERS_DIR = process.env.KLITE_PEERS_DIR ?? join(homedir(), ".cache", "klite-test-peers");

/** Kafka's kafka-server-start.sh / kafka-run-class.sh defaults. */
export const BROKER_JVM = ["-Xms1G", "-Xmx1G", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"];
/** kafka-producer-perf-test.sh / kafka-consumer-perf-test.sh set a 512 MiB heap. */
export const TOOL_JVM = ["-Xmx512M", "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent", "-Djava.awt.headless=true"];
const QUIET = ["-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dorg.slf4j.simpleLogger.logFile=System.err"];

async function run(cmd: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 600_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${(err || out).trim().split("\n").slice(-15).join("\n")}`);
  return out;
}

/** The directory holding Kafka's jars (lib/), installing them first when needed. */
export async function installKafka(log: (s: string) => void = () => {}): Promise<string> {
  for (const bin of ["java", "mvn"]) if (!Bun.which(bin)) throw new Error(`${bin} is not on PATH (apt-get install -y openjdk-17-jdk-headless maven)`);
  const pom = readFileSync(POM);
  const dir = join(PEERS_DIR, `kafka-${KAFKA_VERSION}-${createHash("sha256").update(pom).digest("hex").slice(0, 12)}`);
  if (existsSync(join(dir, "READY"))) return dir;
  log(`installing Apache Kafka ${KAFKA_VERSION} from Maven Central into ${dir}`);
  // Built beside the final place and renamed: a concurrent run sees nothing or a complete directory.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(join(tmp, "pom.xml"), pom);
    await run(["mvn", "-B", "-q", "-f", join(tmp, "pom.xml"), "dependency:copy-dependencies", `-DoutputDirectory=${join(tmp, "lib")}`], { cwd: tmp });
    if (!existsSync(join(tmp, "lib", `kafka_2.13-${KAFKA_VERSION}.jar`))) throw new Error("Maven did not copy the Kafka jars");
    writeFileSync(join(tmp, "READY"), `${new Date().toISOString()}\n`);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      if (!existsSync(join(dir, "READY"))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

export function javaCommand(home: string, jvm: string[], mainClass: string, args: string[]): string[] {
  return ["java", ...jvm, ...QUIET, "-cp", `${join(home, "lib")}/*`, mainClass, ...args];
}

export interface KafkaBroker {
  pid: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  bootstrap: string;
  dataDir: string;
  /** When the process was spawned (performance.now()). */
  spawnedAt: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Formats a fresh KRaft storage dir under `dataDir` and starts the broker on 127.0.0.1:port (controller on
 * port+1). `props` are extra server.properties lines. Resolves once the process is spawned; use waitReady.
 */
export async function startKafka(home: string, dataDir: string, port: number, props: Record<string, string> = {}): Promise<KafkaBroker> {
  mkdirSync(dataDir, { recursive: true });
  const logs = join(dataDir, "logs");
  const config = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.quorum.bootstrap.servers": `127.0.0.1:${port + 1}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${port + 1}`,
    "advertised.listeners": `PLAINTEXT://127.0.0.1:${port}`,
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "log.dirs": logs,
    "num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    ...props,
  };
  const file = join(dataDir, "server.properties");
  writeFileSync(file, Object.entries(config).map(([k, v]) => `${k}=${v}`).join("\n") + "\n");
  const clusterId = (await run(javaCommand(home, ["-Xmx256M"], "kafka.tools.StorageTool", ["random-uuid"]))).trim().split("\n").pop()!;
  await run(javaCommand(home, ["-Xmx256M"], "kafka.tools.StorageTool", ["format", "-t", clusterId, "-c", file, "--standalone"]));
  const spawnedAt = performance.now();
  const proc = Bun.spawn(javaCommand(home, BROKER_JVM, "kafka.Kafka", [file]), { cwd: dataDir, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out = (out + dec.decode(chunk, { stream: true })).slice(-200_000);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  return {
    pid: proc.pid,
    proc,
    bootstrap: `127.0.0.1:${port}`,
    dataDir,
    spawnedAt,
    output: () => out,
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

/** Waits until a broker answers Metadata (any Kafka-compatible one). */
export async function waitReady(bootstrap: string, proc: { exitCode: number | null }, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const c = await Cluster.connect([bootstrap]);
      c.close();
      return;
    } catch (e) {
      if (proc.exitCode !== null) throw new Error(`broker exited with ${proc.exitCode}`);
      if (performance.now() > deadline) throw new Error(`broker at ${bootstrap} not ready after ${timeoutMs} ms: ${(e as Error).message}`);
      await Bun.sleep(20);
    }
  }
}

if (import.meta.main && process.argv[2] === "install") {
  console.log(await installKafka((s) => console.error(s)));
}
