// The S3 tier as one unit: the manifest (a metadata owner), the reader behind the log's cold reads, the flusher,
// the metadata uploader, and the maintenance tasks (retention, compaction, garbage collection), which run one at
// a time on their own timers. Shutdown: stop maintenance, flush everything, upload the metadata log.
import type { Log } from "../log/log.ts";
import type { Logger } from "../logger.ts";
import type { Catalog } from "../meta/catalog.ts";
import type { MetadataLog } from "../meta/metadata-log.ts";
import { ColdReads } from "./cold.ts";
import { Compactor } from "./compactor.ts";
import { Flusher } from "./flusher.ts";
import { Manifest } from "./manifest.ts";
import { MetadataUploader } from "./metadata-sync.ts";
import { ObjectReader } from "./reader.ts";
import { reconcile, type ReconcileStats } from "./restore.ts";
import { applyRetention, collectGarbage } from "./retention.ts";
import type { ObjectStore } from "./store.ts";

export interface TierOptions {
  flushIntervalMs: number;
  targetObjectBytes: number;
  retentionCheckMs: number;
  compactionCheckMs: number;
  compactionMinDirtyObjects: number;
  compactionReadRate: number;
  /** Memory for cached object footers (a share of --memory-limit). */
  footerCacheBytes?: number;
}

export class S3Tier {
  readonly manifest: Manifest;
  readonly reader: ObjectReader;
  readonly cold: ColdReads;
  readonly flusher: Flusher;
  readonly uploader: MetadataUploader;
  readonly compactor: Compactor;
  private maintenance: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly timers: ReturnType<typeof setInterval>[] = [];

  constructor(
    readonly store: ObjectStore,
    readonly root: string,
    private readonly catalog: Catalog,
    private readonly meta: MetadataLog,
    private readonly log: Log,
    private readonly opts: TierOptions,
    private readonly logger: Logger,
  ) {
    this.manifest = new Manifest(catalog, root);
    meta.register(this.manifest);
    this.reader = new ObjectReader(store, opts.footerCacheBytes);
    this.cold = new ColdReads(this.manifest, this.reader);
    this.flusher = new Flusher(log, this.manifest, store, meta, { intervalMs: opts.flushIntervalMs, targetBytes: opts.targetObjectBytes }, logger);
    // Uploads follow flushes, but no more often than a sixth of the flush interval (1-10 s).
    this.uploader = new MetadataUploader(store, root, meta, logger, Math.min(10_000, Math.max(1_000, opts.flushIntervalMs / 6)));
    this.flusher.onFlushed = () => this.uploader.maybeUpload();
    this.compactor = new Compactor(this.manifest, store, meta, { minDirtyObjects: opts.compactionMinDirtyObjects, readRate: opts.compactionReadRate, targetBytes: opts.targetObjectBytes }, logger);
  }

  /** After a restore from the bucket: brings the manifest up to date with what the bucket holds. */
  reconcile(): Promise<ReconcileStats> {
    return reconcile(this.catalog, this.manifest, this.store, this.reader, this.meta, this.logger);
  }

  start(): void {
    this.flusher.start();
    this.uploader.start(Math.min(this.opts.flushIntervalMs, 60_000));
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref?.();
      this.timers.push(t);
    };
    every(this.opts.retentionCheckMs, () => void this.runRetention());
    every(this.opts.compactionCheckMs, () => void this.runCompaction());
    if (this.manifest.garbage.size) void this.queue("garbage collection", () => this.collectGarbage());
  }

  runRetention(): Promise<void> {
    return this.queue("retention", async () => {
      await applyRetention(this.log.partitions(), this.manifest, this.meta, this.logger);
      await this.collectGarbage(); // also what deleted topics and earlier failures left
    });
  }

  runCompaction(): Promise<void> {
    return this.queue("compaction", async () => {
      await this.compactor.run(this.log.partitions());
      await this.collectGarbage();
    });
  }

  private async collectGarbage(): Promise<void> {
    while (this.manifest.garbage.size && !this.stopped) {
      if ((await collectGarbage(this.store, this.manifest, this.meta)) === 0) return;
    }
  }

  /** Maintenance runs one task at a time, so retention and compaction never work on a partition together. */
  private queue(what: string, task: () => Promise<void>): Promise<void> {
    const run = this.maintenance.then(async () => {
      if (this.stopped) return;
      try {
        await task();
      } catch (e) {
        this.logger.warn(`S3 ${what} failed, will try again: ${(e as Error).message}`);
      }
    });
    this.maintenance = run;
    return run;
  }

  /**
   * Stops everything that writes to the bucket (flusher, uploads, maintenance) without flushing: a primary that
   * lost its lease, or one whose standby holds everything, steps away and leaves S3 to the next primary.
   */
  async halt(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.stopped = true;
    this.compactor.stopped = true;
    this.uploader.stop();
    await this.maintenance;
    await this.flusher.stop();
  }

  /** Shutdown: maintenance stops, everything unflushed goes to S3, then the metadata log. */
  /** Resolves true when everything was flushed and the metadata log uploaded (the bucket holds everything). */
  async stop(deadline: number): Promise<boolean> {
    for (const t of this.timers) clearInterval(t);
    this.stopped = true;
    this.compactor.stopped = true;
    this.uploader.stop();
    await this.maintenance;
    const flushed = await this.flusher.flushAll(deadline);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.uploader.upload();
        break;
      } catch (e) {
        if (Date.now() >= deadline) {
          this.logger.error(`shutdown: could not upload the metadata log to S3: ${(e as Error).message}`);
          return false;
        }
        await Bun.sleep(Math.min(2_000, 100 * 2 ** attempt));
      }
    }
    this.logger.info(`S3: ${flushed ? "everything flushed" : "flush incomplete"}, metadata log uploaded (${this.flusher.stats.objects} objects written this run)`);
    return flushed;
  }
}
