// `klite bench produce|consume|produce-consume`: the load generator (src/bench/) against any Kafka-compatible
// cluster. Flags follow Kafka's perf tools where they overlap. Progress goes to stderr once a second; the summary
// to stdout (JSON with --json). Exit 1 on bad flags or when the run could not start; errors during the run are
// counted in the summary instead.
import { defineCommand, type ArgsDef } from "citty";
import { parseDuration, parseSize } from "../config.ts";
import { Compression } from "../protocol/compression.ts";
import { VERSION } from "../broker/broker.ts";
import { summaryJson, summaryText } from "../bench/report.ts";
import { runBench, type BenchMode, type BenchOptions } from "../bench/run.ts";
import { fail, unknownFlags } from "./serve.ts";

const args = {
  brokers: { type: "string", description: "Bootstrap brokers, comma-separated host:port", default: "127.0.0.1:9092" },
  topic: { type: "string", description: "Topic (created with --partitions when missing, except by consume)", default: "klite-bench" },
  partitions: { type: "string", description: "Partitions of the topic when it is created", default: "1", valueHint: "int" },
  producers: { type: "string", description: "Producers, each with its own connections", default: "1", valueHint: "int" },
  consumers: { type: "string", description: "Consumers; partitions are split between them", default: "1", valueHint: "int" },
  "record-size": { type: "string", description: "Bytes in each record's value", default: "1024", valueHint: "size" },
  records: { type: "string", description: "Records to produce (consume: to read) in total; overrides --duration", valueHint: "int" },
  duration: { type: "string", description: "How long to produce (consume: to read) when --records is not given", default: "30s", valueHint: "duration" },
  throughput: { type: "string", description: "Records/s over all producers; -1 = unlimited", default: "-1", valueHint: "int" },
  acks: { type: "string", description: "0, 1 or all (-1)", default: "all" },
  compression: { type: "string", description: "none, gzip, snappy, lz4 or zstd", default: "none" },
  linger: { type: "string", description: "How long a batch waits for more records (linger.ms)", default: "5ms", valueHint: "duration" },
  "batch-size": { type: "string", description: "Bytes per partition batch (batch.size)", default: "16384", valueHint: "size" },
  "warmup-records": { type: "string", description: "First records sent but not measured", default: "0", valueHint: "int" },
  offset: { type: "string", description: "consume: start at the earliest or latest offset", default: "earliest", valueHint: "earliest|latest" },
  json: { type: "boolean", description: "Print the summary as JSON" },
} satisfies ArgsDef;

type Args = { [K in keyof typeof args]?: string | boolean };

function int(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, not ${JSON.stringify(v)}`);
  return n;
}

/** Turns the parsed flags into options; exits with a message naming the flag on a bad value. */
export function benchOptions(mode: BenchMode, a: Args): BenchOptions {
  const s = (k: keyof typeof args) => String(a[k] ?? (args[k] as { default?: string }).default ?? "");
  const acksText = s("acks");
  const acks = acksText === "all" || acksText === "-1" ? -1 : acksText === "1" ? 1 : acksText === "0" ? 0 : fail(`--acks must be 0, 1 or all, not ${JSON.stringify(acksText)}`);
  const compression = (Compression as Record<string, number>)[s("compression")] ?? fail(`--compression must be one of ${Object.keys(Compression).join(", ")}`);
  const duration = /^\d+(\.\d+)?$/.test(s("duration")) ? Number(s("duration")) * 1000 : parseDuration(s("duration"));
  if (duration === null || duration <= 0) fail(`--duration must be a duration such as 30s or 2m, not ${JSON.stringify(s("duration"))}`);
  const linger = parseDuration(s("linger"));
  if (linger === null) fail(`--linger must be a duration such as 5ms, not ${JSON.stringify(s("linger"))}`);
  const recordSize = parseSize(s("record-size"));
  if (recordSize === null || recordSize < 0) fail(`--record-size must be a size, not ${JSON.stringify(s("record-size"))}`);
  const batchSize = parseSize(s("batch-size"));
  if (batchSize === null || batchSize < 1) fail(`--batch-size must be a size, not ${JSON.stringify(s("batch-size"))}`);
  const offset = s("offset");
  if (offset !== "earliest" && offset !== "latest") fail(`--offset must be earliest or latest, not ${JSON.stringify(offset)}`);
  const throughput = Number(s("throughput"));
  if (!Number.isInteger(throughput) || (throughput < 1 && throughput !== -1)) fail(`--throughput must be a positive integer or -1, not ${JSON.stringify(s("throughput"))}`);
  const brokers = s("brokers").split(",").map((b) => b.trim()).filter(Boolean);
  if (!brokers.length || brokers.some((b) => !/^(\[[^\]]+\]|[^:]*):\d+$/.test(b))) fail(`--brokers must be host:port[,host:port...], not ${JSON.stringify(s("brokers"))}`);
  return {
    mode,
    brokers,
    topic: s("topic"),
    partitions: int("partitions", s("partitions"), 1),
    producers: int("producers", s("producers"), 1),
    consumers: int("consumers", s("consumers"), 1),
    recordSize,
    records: a.records !== undefined ? int("records", String(a.records), 1) : null,
    durationS: a.records !== undefined ? null : duration / 1000,
    throughput,
    acks,
    compression,
    lingerMs: linger,
    batchSize,
    warmupRecords: int("warmup-records", s("warmup-records"), 0),
    offset,
  };
}

function command(mode: BenchMode, description: string) {
  return defineCommand({
    meta: { name: mode, description },
    args,
    async run({ args: a, rawArgs }) {
      const unknown = unknownFlags(rawArgs, Object.keys(args));
      if (unknown.length) fail(`unknown flag --${unknown[0]} (see klite bench ${mode} --help)`);
      const o = benchOptions(mode, a as Args);
      const json = a.json === true;
      let result;
      try {
        result = await runBench(o, (line) => process.stderr.write(`${line}\n`));
      } catch (e) {
        fail(`bench ${mode}: ${(e as Error).message}`);
      }
      process.stdout.write(`${json ? summaryJson(result) : summaryText(result)}\n`);
      process.exit(0); // connections of a failed broker may linger; the run is over
    },
  });
}

export const bench = defineCommand({
  meta: { name: "klite bench", version: VERSION, description: "Load generator for Kafka-compatible brokers (klite, Apache Kafka, ...)" },
  subCommands: {
    produce: command("produce", "Produce records as fast as allowed; report records/s, MiB/s and ack latency"),
    consume: command("consume", "Consume a topic from --offset; report records/s and MiB/s"),
    "produce-consume": command("produce-consume", "Produce and consume at once; report both rates and end-to-end latency"),
  },
});
