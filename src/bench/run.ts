// `klite bench`: runs producers and/or consumers against any Kafka-compatible cluster and summarises what they
// saw. produce: records/s, MiB/s and ack latency; consume: records/s and MiB/s from --offset; produce-consume:
// consumers start at the end of the topic and measure end-to-end latency (send to receipt) of every record.
// A run is bounded by --records or --duration; a consumer with nothing new for 10 s stops on its own.
import { Cluster, type TopicInfo } from "./cluster.ts";
import { Consumer, type ConsumeStats } from "./consumer.ts";
import { Histogram } from "./histogram.ts";
import { Producer, PRODUCER_DEFAULTS, type ProduceStats } from "./producer.ts";
import { progressLine, type BenchResult } from "./report.ts";

export type BenchMode = "produce" | "consume" | "produce-consume";

export interface BenchOptions {
  mode: BenchMode;
  brokers: string[];
  topic: string;
  partitions: number;
  producers: number;
  consumers: number;
  recordSize: number;
  /** Total records to produce (or consume, in consume mode); null: run for durationS. */
  records: number | null;
  durationS: number | null;
  /** Records/s over all producers; -1 unlimited. */
  throughput: number;
  acks: 0 | 1 | -1;
  compression: number;
  lingerMs: number;
  batchSize: number;
  warmupRecords: number;
  /** Where consume mode starts. */
  offset: "earliest" | "latest";
  /** Configs for the topic when the bench creates it. */
  topicConfigs?: Record<string, string>;
}

const IDLE_STOP_MS = 10_000;
const FLUSH_TIMEOUT_MS = 60_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const yieldTurn = () => new Promise<void>((r) => setImmediate(r));

/** A value of recordSize bytes of random capital letters, as ProducerPerformance makes its payload. */
function payload(size: number): Uint8Array {
  const v = new Uint8Array(size);
  for (let i = 0; i < size; i++) v[i] = 65 + Math.floor(Math.random() * 26);
  return v;
}

/** Drives one producer at `rate` records/s (-1: as fast as its buffer allows) until `until` says stop. */
async function generate(p: Producer, value: Uint8Array, rate: number, limit: number, stamp: boolean, until: () => boolean): Promise<void> {
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const start = performance.now();
  let n = 0;
  while (n < limit && !until()) {
    if (!p.hasSpace) {
      await p.waitForSpace(); // acknowledgements free the buffer
      continue;
    }
    let allowed = Math.min(limit - n, rate < 0 ? 4096 : Math.floor((rate * (performance.now() - start)) / 1000) - n);
    if (allowed <= 0) {
      await sleep(1); // throttled: the next record is due later
      continue;
    }
    const ts = Date.now();
    while (allowed-- > 0 && p.hasSpace) {
      const now = performance.now();
      // A warm-up record is stamped 0 (not measured): by its own position, not by comparing send times, which can
      // be equal for records sent in the same microsecond.
      if (stamp) dv.setFloat64(0, p.warmingUp ? 0 : performance.timeOrigin + now);
      p.send(value, ts, now);
      n++;
    }
    await yieldTurn(); // let responses and socket writes through
  }
}

function newProduceStats(): ProduceStats {
  return { acked: 0, ackedAll: 0, errors: 0, latency: new Histogram(), window: new Histogram(), measureStart: null, lastAck: 0, lastError: null };
}

function newConsumeStats(e2e: boolean): ConsumeStats {
  // End-to-end latency counts the records sent after the warm-up (stamped), like the producers' ack latency.
  return { records: 0, bytes: 0, errors: 0, lastError: null, firstAt: null, lastAt: 0, e2e: e2e ? new Histogram() : null, e2eWindow: e2e ? new Histogram() : null };
}

/** Splits n into k near-equal parts. */
function split(n: number, k: number): number[] {
  return Array.from({ length: k }, (_, i) => Math.floor(n / k) + (i < n % k ? 1 : 0));
}

export async function runBench(o: BenchOptions, progress: (line: string) => void = () => {}): Promise<BenchResult> {
  const cluster = await Cluster.connect(o.brokers);
  const producers: Producer[] = [];
  const consumers: Consumer[] = [];
  let ticker: ReturnType<typeof setInterval> | null = null;
  try {
    let topic: TopicInfo | null;
    if (o.mode === "consume") {
      topic = await cluster.topic(o.topic);
      if (!topic) throw new Error(`topic ${o.topic} does not exist`);
    } else {
      topic = await cluster.ensureTopic(o.topic, o.partitions, o.topicConfigs);
    }
    const ps = newProduceStats();
    const cs = newConsumeStats(o.mode === "produce-consume");
    const produces = o.mode !== "consume";
    const consumes = o.mode !== "produce";

    // Consumers first (at the end of the topic when producing), so that they see every record produced.
    const partitions = topic.leaders.map((_, i) => i);
    if (consumes) {
      const start = await cluster.offsets(topic, o.mode === "consume" && o.offset === "earliest" ? -2 : -1);
      const n = Math.max(1, Math.min(o.consumers, partitions.length));
      for (let i = 0; i < n; i++) {
        consumers.push(await Consumer.create(cluster, topic, partitions.filter((p) => p % n === i), start, cs));
      }
    }
    if (produces) {
      const opts = { ...PRODUCER_DEFAULTS, acks: o.acks, compression: o.compression, lingerMs: o.lingerMs, batchSize: o.batchSize };
      const warm = split(o.warmupRecords, o.producers);
      for (let i = 0; i < o.producers; i++) producers.push(await Producer.create(cluster, topic, { ...opts, warmupRecords: warm[i]! }, ps, o.recordSize));
    }

    const t0 = performance.now();
    const deadline = o.durationS !== null ? t0 + o.durationS * 1000 : Infinity;
    let stop = false;
    const until = () => stop || performance.now() >= deadline;

    // One progress line a second, from the counters' deltas.
    let last = { t: t0, sent: 0, acked: 0, consumed: 0, bytes: 0 };
    ticker = setInterval(() => {
      const now = performance.now();
      const sent = producers.reduce((a, p) => a + p.sent, 0);
      const cur = { t: now, sent, acked: ps.acked, consumed: cs.records, bytes: cs.bytes };
      progress(progressLine(o, (now - t0) / 1000, (now - last.t) / 1000, { sent: cur.sent - last.sent, acked: cur.acked - last.acked, consumed: cur.consumed - last.consumed, consumedBytes: cur.bytes - last.bytes }, produces ? ps.window : null, cs.e2eWindow, ps.errors + cs.errors));
      ps.window = new Histogram();
      if (cs.e2eWindow) cs.e2eWindow = new Histogram();
      last = cur;
    }, 1000);

    const running = consumers.map((c) => c.run());
    if (produces) {
      const rates = o.throughput < 0 ? producers.map(() => -1) : split(o.throughput, o.producers);
      const limits = o.records !== null ? split(o.records, o.producers) : producers.map(() => Infinity);
      const stamp = o.mode === "produce-consume" && o.recordSize >= 8;
      await Promise.all(producers.map((p, i) => generate(p, payload(o.recordSize), rates[i]!, limits[i]!, stamp, until)));
      await Promise.race([Promise.all(producers.map((p) => p.flush())), sleep(FLUSH_TIMEOUT_MS)]);
    }
    if (consumes) {
      // Consume until the target is reached: every record produced, --records, or --duration; idle 10 s stops.
      const target = produces ? () => ps.ackedAll : () => o.records ?? Infinity;
      let idleSince = performance.now();
      let seen = cs.records;
      while (cs.records < target() && (produces || !until())) {
        await Promise.race(consumers.map((c) => c.waitForRecords(200)));
        if (cs.records !== seen) {
          seen = cs.records;
          idleSince = performance.now();
        } else if (performance.now() - idleSince > IDLE_STOP_MS || (produces && performance.now() > deadline + FLUSH_TIMEOUT_MS)) break;
        if (cs.errors > 0 && cs.records === 0 && performance.now() - t0 > 5000) break;
      }
      stop = true;
      for (const c of consumers) c.stop();
      await Promise.all(running);
    }
    stop = true;
    const end = performance.now();
    return {
      mode: o.mode,
      options: o,
      produce: produces
        ? (() => {
            const start = ps.measureStart ?? t0;
            const secs = Math.max(1e-6, (ps.lastAck || end) - start) / 1000;
            return { records: ps.acked, seconds: secs, recordsPerSec: ps.acked / secs, mibPerSec: (ps.acked * o.recordSize) / secs / 1048576, latencyMs: ps.latency.summary(), errors: ps.errors, lastError: ps.lastError };
          })()
        : null,
      consume: consumes
        ? (() => {
            const secs = Math.max(1e-6, cs.lastAt - (cs.firstAt ?? cs.lastAt)) / 1000;
            return { records: cs.records, seconds: secs, recordsPerSec: cs.records / secs, mibPerSec: cs.bytes / secs / 1048576, e2eLatencyMs: cs.e2e?.summary() ?? null, errors: cs.errors, lastError: cs.lastError };
          })()
        : null,
    };
  } finally {
    if (ticker) clearInterval(ticker);
    for (const p of producers) p.close();
    for (const c of consumers) c.stop();
    cluster.close();
  }
}
