// Apache Kafka's own command-line tools as a test peer: the kafka-tools and kafka_2.13 jars of Kafka 4.4.0 from
// Maven Central, installed once into the peers cache by scripts/bench/kafka.ts (the same jars the benchmark's
// reference broker runs from). A tool is its main class run with `java -cp <jars>`, as the kafka-*.sh scripts do.
import { installKafka, KAFKA_VERSION } from "../../scripts/bench/kafka.ts";
import { peer, type PeerResult } from "./peers.ts";
import { join } from "node:path";

export const KAFKA_TOOLS_PEER = `Apache Kafka ${KAFKA_VERSION} tools`;

let home: string | null = null;

export async function kafkaTools(): Promise<PeerResult> {
  const r = await peer(KAFKA_TOOLS_PEER, () => installKafka());
  if (r.ok) home = r.path;
  return r;
}

/** kafka-run-class.sh's tool heap, a quick-starting JIT, and the tools' log lines (warnings and up) on stderr. */
const JVM = ["-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-Dorg.slf4j.simpleLogger.logFile=System.err"];

export const TOOL = {
  topics: "org.apache.kafka.tools.TopicCommand",
  configs: "org.apache.kafka.tools.ConfigCommand",
  consumerGroups: "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
  deleteRecords: "org.apache.kafka.tools.DeleteRecordsCommand",
  logDirs: "org.apache.kafka.tools.LogDirsCommand",
  getOffsets: "org.apache.kafka.tools.GetOffsetShell",
  consoleProducer: "org.apache.kafka.tools.ConsoleProducer",
  consoleConsumer: "org.apache.kafka.tools.consumer.ConsoleConsumer",
  verifiableProducer: "org.apache.kafka.tools.VerifiableProducer",
  verifiableConsumer: "org.apache.kafka.tools.VerifiableConsumer",
} as const;

export interface ToolRun {
  code: number;
  out: string;
  err: string;
}

/** Runs a tool's main class to its end (killed after timeoutMs); resolves with its exit code and output. */
export async function runTool(mainClass: string, args: string[], opts: { stdin?: string; timeoutMs?: number } = {}): Promise<ToolRun> {
  if (!home) throw new Error("the Kafka tools are not installed: await kafkaTools() first");
  const proc = Bun.spawn(["java", ...JVM, "-cp", `${join(home, "lib")}/*`, mainClass, ...args], {
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out, err };
}
