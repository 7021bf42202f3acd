// A topic's runtime state and its partitions. Offsets: logStartOffset ≤ highWatermark ≤ nextOffset.
// nextOffset counts appends whose WAL write is still under way; highWatermark is the durable end, the only part
// consumers see. Fetches waiting for data register a waiter that a high-watermark move wakes.
// With an S3 tier, logStartOffset ≤ flushedOffset ≤ highWatermark: everything below flushedOffset is in S3, the
// rest ("unflushed") lives only in the WAL and counts against the memory pool.
import type { TopicMeta } from "../meta/catalog.ts";
import { hasCleanupPolicy, topicConfig } from "../meta/topic-configs.ts";
import type { RecordRules } from "./validator.ts";
import { BatchIndex } from "./batch-index.ts";
import { ProducerStates } from "./producer-state.ts";

export class TopicState {
  readonly idBytes: Uint8Array;
  readonly partitions: Partition[] = [];
  maxMessageBytes = 0;
  logAppendTime = false;
  minInsyncReplicas = 1;
  /** What every produced record is checked against (validator.ts). */
  readonly rules: RecordRules = { compacted: false, logAppendTime: false, timestampBeforeMaxMs: Infinity, timestampAfterMaxMs: Infinity };
  deleted = false;

  constructor(readonly meta: TopicMeta) {
    this.idBytes = Uint8Array.from(Buffer.from(meta.id, "hex"));
    this.refresh();
    this.grow(meta.partitions);
  }

  /** Re-reads the configs the append path uses (after a config change). */
  refresh(): void {
    const c = this.meta.configs;
    this.maxMessageBytes = Number(topicConfig(c, "max.message.bytes"));
    this.logAppendTime = topicConfig(c, "message.timestamp.type") === "LogAppendTime";
    this.minInsyncReplicas = Number(topicConfig(c, "min.insync.replicas"));
    this.rules.compacted = hasCleanupPolicy(c, "compact");
    this.rules.logAppendTime = this.logAppendTime;
    this.rules.timestampBeforeMaxMs = Number(topicConfig(c, "message.timestamp.before.max.ms"));
    this.rules.timestampAfterMaxMs = Number(topicConfig(c, "message.timestamp.after.max.ms"));
  }

  grow(count: number): void {
    while (this.partitions.length < count) this.partitions.push(new Partition(this, this.partitions.length));
  }
}

/** Offsets [start, end] the WAL lost to corruption: served from S3 (a second copy), or lost for good. */
export interface Hole {
  start: number;
  end: number;
  lost: boolean;
}

export class Partition {
  logStartOffset = 0;
  nextOffset = 0;
  highWatermark = 0;
  /** With an S3 tier: offsets below this are in S3, so the WAL may let them go. */
  flushedOffset = 0;
  /** Bytes of durable batches at or above flushedOffset. */
  unflushedBytes = 0;
  /** When the oldest unflushed batch became durable (Date.now()), 0 when there is none. */
  unflushedSince = 0;
  readonly index = new BatchIndex();
  /** Damaged ranges, in offset order (few: only after corruption, see log/damage.ts). */
  holes: Hole[] = [];
  readonly producers = new ProducerStates();
  private waiters: Set<() => void> | null = null;

  constructor(readonly topic: TopicState, readonly id: number) {}

  get deleted(): boolean {
    return this.topic.deleted;
  }

  addWaiter(fn: () => void): void {
    (this.waiters ??= new Set()).add(fn);
  }

  removeWaiter(fn: () => void): void {
    this.waiters?.delete(fn);
  }

  /** Wakes every fetch waiting on this partition (new data, or the partition went away). */
  wake(): void {
    const w = this.waiters;
    if (!w || w.size === 0) return;
    this.waiters = null;
    for (const fn of w) fn();
  }

  /** The hole holding offset, if any. */
  holeAt(offset: number): Hole | undefined {
    for (const h of this.holes) if (h.start <= offset && offset <= h.end) return h;
    return undefined;
  }

  /** Start of the first hole after offset (Infinity when none): reads from offset stop there. */
  nextHole(offset: number): number {
    for (const h of this.holes) if (h.start > offset) return h.start;
    return Infinity;
  }

  addHole(h: Hole): void {
    this.holes = [...this.holes.filter((x) => x.end < h.start || x.start > h.end), h].sort((a, b) => a.start - b.start);
  }

  toString(): string {
    return `${this.topic.meta.name}-${this.id}`;
  }
}
