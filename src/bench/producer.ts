// A producer shaped like the Java client's, so that the load generator is not what limits a broker: records go
// into one open batch per partition (sticky partitioning: a batch fills, then the next partition's turn); a batch
// is ready when full, when it has lingered --linger, or at close. Per broker connection, up to 5 Produce requests
// are in flight, each carrying at most one ready batch per partition (up to 1 MiB). Records wait in a bounded
// buffer (32 MiB like the Java client's buffer.memory): send() says false when it is full. Latency is measured per
// record, from send() to its acknowledgement, as Kafka's ProducerPerformance does.
import * as produce from "../protocol/messages/produce.ts";
import { errorName } from "../protocol/errors.ts";
import { BATCH_HEADER_SIZE } from "../protocol/records.ts";
import { BatchBuilder, maxRecordSize } from "./batch.ts";
import type { Cluster, TopicInfo } from "./cluster.ts";
import type { KafkaConnection } from "./connection.ts";
import type { Histogram } from "./histogram.ts";

export interface ProducerOptions {
  acks: 0 | 1 | -1;
  compression: number;
  lingerMs: number;
  batchSize: number;
  maxInFlight: number;
  bufferMemory: number;
  maxRequestSize: number;
  requestTimeoutMs: number;
  /** This producer's first records that are sent but not measured. */
  warmupRecords: number;
}

export const PRODUCER_DEFAULTS = { maxInFlight: 5, bufferMemory: 32 * 1024 * 1024, maxRequestSize: 1024 * 1024, requestTimeoutMs: 30_000 };

/** Shared counters of every producer in a run. */
export interface ProduceStats {
  /** Measured records acknowledged (warm-up records are not counted). */
  acked: number;
  /** Every record acknowledged, warm-up included. */
  ackedAll: number;
  errors: number;
  latency: Histogram;
  /** Latency since the last progress line (replaced by the reporter). */
  window: Histogram;
  /** When the first measured record was sent (performance.now()), and when the last one was acknowledged. */
  measureStart: number | null;
  lastAck: number;
  lastError: string | null;
}

interface Ready {
  partition: number;
  batch: Uint8Array;
  builder: BatchBuilder;
  /** Index (in this producer's send order) of the batch's first record. */
  firstSeq: number;
  bytes: number;
}

interface Node {
  conn: KafkaConnection;
  partitions: number[];
  inFlight: number;
  /** Where the next drain starts, so every partition gets its turn. */
  cursor: number;
}

export class Producer {
  private readonly open: (BatchBuilder | null)[] = [];
  private readonly openSince: number[] = [];
  private readonly openSeq: number[] = [];
  private readonly ready: Ready[][] = [];
  private readonly nodes = new Map<number, Node>();
  private readonly recordMax: number;
  private sticky = 0;
  private seq = 0;
  private buffered = 0;
  private closing = false;
  private drainScheduled = false;
  private lingerTimer: ReturnType<typeof setTimeout> | null = null;
  private spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private outstanding = 0; // batches sealed and not yet acknowledged or failed

  private constructor(
    private readonly topic: TopicInfo,
    private readonly opts: ProducerOptions,
    private readonly stats: ProduceStats,
    valueSize: number,
  ) {
    this.recordMax = maxRecordSize(valueSize);
    for (let p = 0; p < topic.leaders.length; p++) {
      this.open.push(null);
      this.openSince.push(0);
      this.openSeq.push(0);
      this.ready.push([]);
    }
    this.sticky = Math.floor(Math.random() * topic.leaders.length);
  }

  /** A producer with its own connection to each leader of the topic. */
  static async create(cluster: Cluster, topic: TopicInfo, opts: ProducerOptions, stats: ProduceStats, valueSize: number): Promise<Producer> {
    const p = new Producer(topic, opts, stats, valueSize);
    for (const [partition, leader] of topic.leaders.entries()) {
      let n = p.nodes.get(leader);
      if (!n) {
        n = { conn: await cluster.open(leader), partitions: [], inFlight: 0, cursor: 0 };
        p.nodes.set(leader, n);
      }
      n.partitions.push(partition);
    }
    return p;
  }

  /** Records handed over, acknowledged or not. */
  get sent(): number {
    return this.seq;
  }

  /** Whether the next record sent is one of this producer's warm-up records. */
  get warmingUp(): boolean {
    return this.seq < this.opts.warmupRecords;
  }

  /** Whether the buffer has room for another record. */
  get hasSpace(): boolean {
    return this.buffered + this.recordMax <= this.opts.bufferMemory;
  }

  /** Resolves when the buffer has room again. */
  waitForSpace(): Promise<void> {
    if (this.hasSpace) return Promise.resolve();
    return new Promise((r) => this.spaceWaiters.push(r));
  }

  /** Queues one record (null key, no headers). The caller checks hasSpace first. */
  send(value: Uint8Array, timestamp: number, now: number): void {
    let p = this.sticky;
    let b = this.open[p];
    if (b && !b.fits(this.recordMax)) {
      this.seal(p);
      p = this.sticky = (p + 1) % this.open.length;
      b = this.open[p];
      if (b && !b.fits(this.recordMax)) this.seal(p);
      b = this.open[p];
    }
    if (!b) {
      const capacity = Math.max(this.opts.batchSize, BATCH_HEADER_SIZE + this.recordMax);
      b = new BatchBuilder(capacity, Math.ceil(capacity / Math.max(8, this.recordMax - 24)) + 1);
      this.open[p] = b;
      this.openSince[p] = now;
      this.openSeq[p] = this.seq;
      this.buffered += capacity;
      if (this.opts.lingerMs > 0 && this.lingerTimer === null) this.lingerTimer = setTimeout(() => this.onLinger(), this.opts.lingerMs);
    }
    b.append(value, timestamp, now);
    if (this.seq++ === this.opts.warmupRecords) this.stats.measureStart ??= now;
    if (!b.fits(this.recordMax)) {
      this.seal(p);
      this.sticky = (p + 1) % this.open.length;
    }
    this.scheduleDrain();
  }

  /** Sends whatever is open and resolves when every record has been acknowledged or has failed. */
  async flush(): Promise<void> {
    this.closing = true;
    for (let p = 0; p < this.open.length; p++) if (this.open[p]) this.seal(p);
    this.scheduleDrain();
    if (this.outstanding > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  close(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    for (const n of this.nodes.values()) n.conn.close();
  }

  private seal(p: number): void {
    const b = this.open[p]!;
    this.open[p] = null;
    const batch = b.seal(this.opts.compression);
    this.ready[p]!.push({ partition: p, batch, builder: b, firstSeq: this.openSeq[p]!, bytes: b.buf.length });
    this.outstanding++;
  }

  private onLinger(): void {
    this.lingerTimer = null;
    const now = performance.now();
    let next = Infinity;
    for (let p = 0; p < this.open.length; p++) {
      if (!this.open[p]) continue;
      const due = this.openSince[p]! + this.opts.lingerMs;
      if (due <= now + 0.5) this.seal(p);
      else next = Math.min(next, due);
    }
    if (next < Infinity) this.lingerTimer = setTimeout(() => this.onLinger(), Math.max(1, next - now));
    this.scheduleDrain();
  }

  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => {
      this.drainScheduled = false;
      this.drain();
    });
  }

  /** Sends requests to every broker with room in flight, as long as batches are ready. */
  private drain(): void {
    const lingerZero = this.opts.lingerMs <= 0;
    const full = !this.hasSpace;
    for (const [, n] of this.nodes) {
      while (n.inFlight < this.opts.maxInFlight) {
        const taken: Ready[] = [];
        let bytes = 0;
        for (let k = 0; k < n.partitions.length; k++) {
          const p = n.partitions[(n.cursor + k) % n.partitions.length]!;
          // A lingering batch goes now when linger is 0, when the buffer is full (Java does the same) or at close.
          if (this.ready[p]!.length === 0 && this.open[p] && (lingerZero || full || this.closing)) this.seal(p);
          const r = this.ready[p]![0];
          if (!r) continue;
          if (taken.length > 0 && bytes + r.batch.length > this.opts.maxRequestSize) break;
          this.ready[p]!.shift();
          taken.push(r);
          bytes += r.batch.length;
        }
        if (taken.length === 0) break;
        n.cursor = (n.cursor + 1) % n.partitions.length;
        this.sendRequest(n, taken, bytes);
      }
    }
  }

  private sendRequest(n: Node, batches: Ready[], bytes: number): void {
    const acks = this.opts.acks;
    const version = n.conn.version(produce, 11);
    const body: produce.ProduceRequest = {
      transactionalId: null,
      acks,
      timeoutMs: this.opts.requestTimeoutMs,
      topicData: [{ name: this.topic.name, partitionData: batches.map((b) => ({ index: b.partition, records: b.batch })) }],
    };
    n.inFlight++;
    const hint = bytes + 64 + batches.length * 16 + this.topic.name.length;
    if (acks === 0) {
      // Other work goes on while the request is written; there is no response to wait for.
      void n.conn.sendOneWay(produce, version, body, hint).then(() => this.completed(n, batches, null));
      return;
    }
    // Responses of this connection arrive while other requests are prepared and sent.
    n.conn.send(produce, version, body, hint).then(
      (resp) => {
        const errs = new Map<number, string>();
        for (const t of resp.responses) for (const pr of t.partitionResponses) if (pr.errorCode !== 0) errs.set(pr.index, `${errorName(pr.errorCode)}${pr.errorMessage ? `: ${pr.errorMessage}` : ""}`);
        this.completed(n, batches, errs.size ? errs : null);
      },
      (e: Error) => this.completed(n, batches, new Map(batches.map((b) => [b.partition, e.message]))),
    );
  }

  private completed(n: Node, batches: Ready[], errors: Map<number, string> | null): void {
    n.inFlight--;
    const now = performance.now();
    const st = this.stats;
    for (const r of batches) {
      const b = r.builder;
      this.buffered -= r.bytes;
      this.outstanding--;
      const err = errors?.get(r.partition);
      if (err !== undefined) {
        st.errors += b.count;
        st.lastError = err;
        continue;
      }
      st.ackedAll += b.count;
      const from = Math.max(0, this.opts.warmupRecords - r.firstSeq);
      for (let i = from; i < b.count; i++) {
        st.latency.record(now - b.sentAt[i]!);
        st.window.record(now - b.sentAt[i]!);
      }
      if (from < b.count) {
        st.acked += b.count - from;
        st.lastAck = now;
      }
    }
    if (this.hasSpace && this.spaceWaiters.length) {
      const w = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const f of w) f();
    }
    if (this.outstanding === 0 && this.idleWaiters.length) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
    this.scheduleDrain();
  }
}
