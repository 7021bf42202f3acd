// Kafka's own load generators, ProducerPerformance and ConsumerPerformance (kafka-tools), run against any broker,
// with their summaries parsed. A run that outlives its time limit is killed and reported as null.
import { javaCommand, TOOL_JVM } from "./kafka.ts";

export interface ToolProduce {
  records: number;
  recordsPerSec: number;
  mibPerSec: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number };
}

export interface ToolConsume {
  records: number;
  /** fetch.nMsg.sec and fetch.MB.sec: the rate once the group has joined (rebalance time excluded). */
  recordsPerSec: number;
  mibPerSec: number;
}

async function runTool(cmd: string[], timeoutMs: number): Promise<{ out: string; killed: boolean; code: number }> {
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0 && !killed) process.stderr.write(`  ${cmd[cmd.indexOf("-cp") + 2]} exited ${code}: ${err.trim().split("\n").slice(-5).join("\n  ")}\n`);
  return { out, killed, code };
}

/**
 * kafka-producer-perf-test: `records` records of `recordSize` bytes, unthrottled or at `throughput` records/s,
 * with producer defaults except acks. Parses the final line:
 * "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P ms 50th, P ms 95th, P ms 99th, ..."
 */
export async function producerPerformance(home: string, bootstrap: string, topic: string, o: { records: number; recordSize: number; acks: string; throughput?: number; timeoutMs: number }): Promise<ToolProduce | null> {
  const cmd = javaCommand(home, TOOL_JVM, "org.apache.kafka.tools.ProducerPerformance", [
    "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", String(o.records), "--record-size", String(o.recordSize),
    "--throughput", String(o.throughput ?? -1), "--command-property", `acks=${o.acks}`,
  ]);
  const r = await runTool(cmd, o.timeoutMs);
  if (r.killed || r.code !== 0) return null;
  const line = r.out.trim().split("\n").reverse().find((l) => /records sent, .* 99th/.test(l));
  const m = line && /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th/.exec(line);
  if (!m) return null;
  const n = (i: number) => Number(m[i]);
  return { records: n(1), recordsPerSec: n(2), mibPerSec: n(3), latencyMs: { mean: n(4), max: n(5), p50: n(6), p95: n(7), p99: n(8) } };
}

/**
 * kafka-consumer-perf-test: reads `records` records of `topic` from the beginning in a new group. Parses the CSV
 * line "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms,
 * fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec".
 */
export async function consumerPerformance(home: string, bootstrap: string, topic: string, o: { records: number; timeoutMs: number }): Promise<ToolConsume | null> {
  const cmd = javaCommand(home, TOOL_JVM, "org.apache.kafka.tools.ConsumerPerformance", [
    "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", String(o.records), "--timeout", "20000",
    "--group", `perf-${Date.now()}`,
  ]);
  const r = await runTool(cmd, o.timeoutMs);
  if (r.killed || r.code !== 0) return null;
  const line = r.out.trim().split("\n").reverse().find((l) => l.split(",").length >= 10 && /^\d{4}-/.test(l.trim()));
  if (!line) return null;
  const f = line.split(",").map((s) => s.trim());
  return { records: Number(f[4]), mibPerSec: Number(f[8]), recordsPerSec: Number(f[9]) };
}
