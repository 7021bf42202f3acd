// The flusher: moves each partition's unflushed batches (durable in the WAL, not yet in S3) into data objects.
// A partition is flushed when its unflushed bytes reach --s3-target-object-size, when its oldest unflushed batch is
// --s3-flush-interval old, or early, biggest first, once the memory pool is 75% full. Per object: take the batches
// (views of WAL memory chunks, or WAL reads), PUT the object, write its manifest record (fsync'd), and only then tell
// the log the offsets are in S3, so the WAL segments holding them may go. A failed PUT is retried with exponential
// backoff while the broker keeps taking writes into the WAL and the pool; when the pool is full producers wait.
// Shutdown (flushAll) writes everything that is left.
import type { Logger } from "../logger.ts";
import type { Partition } from "../log/partition.ts";
import type { MetaRecord } from "../meta/metadata-log.ts";
import { readBatchHeader } from "../protocol/records.ts";
import type { Manifest } from "./manifest.ts";
import { encodeObject } from "./object.ts";
import type { ObjectStore } from "./store.ts";

/** What the flusher needs from the log. */
export interface FlushSource {
  partitions(): IterableIterator<Partition>;
  unflushedBatches(p: Partition, maxBytes: number): { batches: Uint8Array[]; bytes: number; base: number; last: number } | null;
  markFlushed(p: Partition, end: number, bytes: number, since: number): void;
  releaseFlushed(): Promise<number>;
  readonly poolUse: number;
}

export interface RecordSink {
  append(...recs: MetaRecord[]): Promise<void>;
}

export interface FlusherOptions {
  intervalMs: number;
  targetBytes: number;
}

/** Pool use at which partitions are flushed before they are due. */
export const EARLY_FLUSH = 0.75;
const CONCURRENCY = 4;
const MAX_BACKOFF_MS = 10_000;

export class Flusher {
  private readonly inFlight = new Set<Partition>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private failures = 0;
  private retryAt = 0;
  private released = true;
  private releasing = false;
  /** Called after WAL segments were released following flushes (the metadata uploader listens). */
  onFlushed: () => void = () => {};
  readonly stats = { objects: 0, bytes: 0, puts: 0, failedPuts: 0 };

  constructor(
    private readonly source: FlushSource,
    private readonly manifest: Manifest,
    private readonly store: ObjectStore,
    private readonly meta: RecordSink,
    private readonly opts: FlusherOptions,
    private readonly logger: Logger,
  ) {}

  start(): void {
    const tick = Math.max(20, Math.min(250, this.opts.intervalMs / 4));
    this.timer = setInterval(() => this.tick(), tick);
    this.timer.unref?.();
  }

  /** Starts flushes for every partition that is due, up to the concurrency limit. */
  tick(now = Date.now()): void {
    if (!this.released && !this.releasing) void this.release();
    if (now < this.retryAt) return;
    const pressure = this.source.poolUse >= EARLY_FLUSH;
    const due: Partition[] = [];
    for (const p of this.source.partitions()) {
      if (p.deleted || p.unflushedBytes === 0 || this.inFlight.has(p)) continue;
      if (pressure || p.unflushedBytes >= this.opts.targetBytes || now - p.unflushedSince >= this.opts.intervalMs) due.push(p);
    }
    if (pressure) due.sort((a, b) => b.unflushedBytes - a.unflushedBytes);
    for (const p of due) {
      if (this.inFlight.size >= CONCURRENCY) break;
      this.launch(p);
    }
  }

  private launch(p: Partition): void {
    this.inFlight.add(p);
    void this.flushOne(p)
      .then(
        () => {
          this.failures = 0;
        },
        (e: Error) => {
          this.failures++;
          this.stats.failedPuts++;
          const wait = Math.min(MAX_BACKOFF_MS, 250 * 2 ** Math.min(this.failures, 10));
          this.retryAt = Date.now() + wait;
          const log = this.failures === 1 || this.failures % 10 === 0 ? "warn" : "debug";
          this.logger[log](`S3 flush of ${p} failed (${this.failures} in a row), retrying in ${wait} ms: ${e.message}`);
        },
      )
      .finally(() => this.inFlight.delete(p));
  }

  /** Writes one object of p's oldest unflushed batches; false when there was nothing to flush. */
  async flushOne(p: Partition): Promise<boolean> {
    const since = Date.now();
    const src = this.source.unflushedBatches(p, this.opts.targetBytes);
    if (!src) return false;
    const body = encodeObject(src.batches); // a copy: the batch views may go once this returns
    let maxTs = -1;
    for (const b of src.batches) maxTs = Math.max(maxTs, readBatchHeader(b).maxTimestamp);
    const key = this.manifest.keyFor(p, src.base);
    this.stats.puts++;
    // The broker keeps serving during the PUT; only this partition's flush waits (one in flight per partition).
    const { etag } = await this.store.put(key, body);
    if (p.deleted) {
      await this.meta.append({ type: "s3-garbage", keys: [key] }); // its topic went meanwhile
      return true;
    }
    await this.meta.append(this.manifest.objectRecord(p, { base: src.base, last: src.last, size: body.length, batches: src.batches.length, maxTs, etag }));
    this.source.markFlushed(p, src.last + 1, src.bytes, since);
    this.stats.objects++;
    this.stats.bytes += body.length;
    this.released = false;
    return true;
  }

  private async release(): Promise<void> {
    this.releasing = true;
    this.released = true;
    try {
      await this.source.releaseFlushed();
      this.onFlushed();
    } catch (e) {
      this.logger.error(`releasing flushed WAL segments failed: ${(e as Error).message}`);
    } finally {
      this.releasing = false;
    }
  }

  /** Stops the schedule and waits for the flushes in flight (a primary stepping down: nothing more goes to S3). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.inFlight.size > 0) await Bun.sleep(5);
  }

  /** Shutdown: stops the schedule and flushes everything left; false when S3 refused until the deadline. */
  async flushAll(deadline: number): Promise<boolean> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.inFlight.size > 0) await Bun.sleep(5);
    let failures = 0;
    for (;;) {
      const left = [...this.source.partitions()].filter((p) => !p.deleted && p.unflushedBytes > 0);
      if (left.length === 0) break;
      if (Date.now() >= deadline) {
        this.logger.error(`shutdown: ${left.length} partitions could not be flushed to S3 in time; their data stays in the WAL`);
        return false;
      }
      const results = await Promise.allSettled(left.slice(0, CONCURRENCY).map((p) => this.flushOne(p)));
      const failed = results.find((r) => r.status === "rejected");
      if (failed) {
        failures++;
        this.logger.warn(`shutdown flush to S3 failed, retrying: ${(failed as PromiseRejectedResult).reason?.message}`);
        await Bun.sleep(Math.min(2_000, 100 * 2 ** failures, Math.max(0, deadline - Date.now())));
      }
    }
    await this.release();
    return true;
  }

  /** Partitions being flushed right now (tests). */
  get flushing(): number {
    return this.inFlight.size;
  }
}
