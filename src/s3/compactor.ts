// Compaction of cleanup.policy=compact (and compact,delete) partitions on S3, after Kafka's log cleaner: keep the
// newest record of every key, drop tombstones older than delete.retention.ms, never move an offset.
//
// A partition qualifies once --compaction-min-dirty-objects objects were written after its compaction watermark.
// Pass 1 reads the dirty objects and notes the newest offset of every key. Pass 2 reads every object up to the
// dirty end, keeps a record unless a newer one has its key (or it is an expired tombstone), and writes runs of
// neighbouring objects as one object of up to --s3-target-object-size under the first one's key (If-Match its
// ETag). Kept batches keep their base offset and last offset delta, so consumers step over whatever vanished;
// emptied batches and objects disappear, leaving gaps that fetches skip. The newest record of the range is always
// kept, so the range never ends in a gap. Each run is swapped in the manifest with
// one record before the objects it replaced are deleted (by the garbage collector): readers that raced with it
// get a 412 or 404 and look again (cold.ts). Reads are paced at --compaction-read-rate.
import type { Partition } from "../log/partition.ts";
import type { Logger } from "../logger.ts";
import { hasCleanupPolicy, topicConfig } from "../meta/topic-configs.ts";
import { batchBaseOffset, batchIsIntact, CorruptBatchError, retainRecords, type RecordRef } from "../protocol/records.ts";
import type { RecordSink } from "./flusher.ts";
import { entryRecord, type Manifest, type ObjectEntry } from "./manifest.ts";
import { decodeFooter, encodeObject } from "./object.ts";
import type { ObjectStore } from "./store.ts";

export interface CompactorOptions {
  minDirtyObjects: number;
  /** Bytes per second read from S3. */
  readRate: number;
  targetBytes: number;
}

/** Keys remembered per pass before the dirty section is cut short (Kafka bounds its offset map the same way). */
const MAX_KEYS = 2_000_000;

interface Run {
  inputs: ObjectEntry[];
  batches: Uint8Array[];
  bytes: number;
  changed: boolean;
}

export class Compactor {
  private nextReadAt = 0;
  /** Damaged batches already reported (each is logged once, not at every compaction). */
  private readonly reported = new Set<string>();
  stopped = false;
  readonly stats = { compactions: 0, bytesRead: 0, recordsRemoved: 0 };

  constructor(
    private readonly manifest: Manifest,
    private readonly store: ObjectStore,
    private readonly meta: RecordSink,
    private readonly opts: CompactorOptions,
    private readonly logger: Logger,
  ) {}

  static wants(p: Partition): boolean {
    return hasCleanupPolicy(p.topic.meta.configs, "compact");
  }

  /** Objects of p written since its last compaction. */
  dirtyObjects(p: Partition): number {
    const po = this.manifest.of(p);
    return po.entries.length - po.find(po.cleaned);
  }

  /** Compacts every qualifying partition, one at a time. */
  async run(partitions: Iterable<Partition>, now = Date.now()): Promise<void> {
    for (const p of [...partitions]) {
      if (this.stopped) return;
      if (p.deleted || !Compactor.wants(p) || this.dirtyObjects(p) < this.opts.minDirtyObjects) continue;
      try {
        await this.compact(p, now);
      } catch (e) {
        this.logger.warn(`compaction of ${p} stopped, will try again: ${(e as Error).message}`);
      }
    }
  }

  async compact(p: Partition, now = Date.now()): Promise<void> {
    const po = this.manifest.of(p);
    const entries = [...po.entries];
    const dirtyFrom = po.find(po.cleaned);
    // Pass 1: the newest offset of every key in the dirty objects, and the newest record of all.
    const newest = new Map<string, number>();
    let lastRecord = -1;
    let dirtyEnd = dirtyFrom;
    for (; dirtyEnd < entries.length && newest.size < MAX_KEYS; dirtyEnd++) {
      for (const batch of await this.batchesOf(entries[dirtyEnd]!)) {
        this.retain(entries[dirtyEnd]!, batch, (r) => {
          if (r.key) newest.set(Buffer.from(r.key).toString("latin1"), r.offset);
          lastRecord = r.offset;
          return true;
        });
      }
      if (this.stopped || p.deleted) return;
    }
    const horizon = now - Number(topicConfig(p.topic.meta.configs, "delete.retention.ms"));
    let removed = 0;
    const keep = (r: RecordRef): boolean => {
      // The newest record stays even as an expired tombstone: the compacted range must not end in an empty
      // stretch, or a consumer positioned there would get nothing back until new data arrives.
      if (r.key === null || r.offset === lastRecord) return true;
      const newer = newest.get(Buffer.from(r.key).toString("latin1"));
      const ok = (newer === undefined || newer <= r.offset) && !(r.tombstone && r.timestamp < horizon);
      if (!ok) removed++;
      return ok;
    };
    // Pass 2: rewrite everything up to the dirty end, in runs of neighbouring objects.
    let run: Run = { inputs: [], batches: [], bytes: 0, changed: false };
    for (const e of entries.slice(0, dirtyEnd)) {
      const out: Uint8Array[] = [];
      let bytes = 0;
      let changed = false;
      for (const batch of await this.batchesOf(e)) {
        const kept = this.retain(e, batch, keep);
        if (kept !== batch) changed = true;
        if (kept) {
          out.push(kept);
          bytes += kept.length;
        }
      }
      if (this.stopped || p.deleted) return;
      if (run.inputs.length && run.bytes + bytes > this.opts.targetBytes) {
        await this.write(p, run);
        run = { inputs: [], batches: [], bytes: 0, changed: false };
      }
      run.inputs.push(e);
      run.batches.push(...out);
      run.bytes += bytes;
      run.changed ||= changed || run.inputs.length > 1;
    }
    if (run.inputs.length) await this.write(p, run);
    const t = p.topic.meta.id;
    await this.meta.append({ type: "s3-cleaned", t, p: p.id, o: entries[dirtyEnd - 1]!.last + 1 });
    this.stats.compactions++;
    this.stats.recordsRemoved += removed;
    this.logger.info(`compaction: ${p} objects ${entries[0]!.base}..${entries[dirtyEnd - 1]!.last} compacted (${removed} records removed, ${dirtyEnd - dirtyFrom} were dirty)`);
  }

  /**
   * retainRecords, except that a damaged batch (bad CRC, records that do not parse) is kept whole: compaction must
   * neither lose what it cannot read nor give damaged bytes a fresh CRC. Reported once.
   */
  private retain(e: ObjectEntry, batch: Uint8Array, keep: (r: RecordRef) => boolean): Uint8Array | null {
    let why: string | null = null;
    if (!batchIsIntact(batch)) why = "fails its CRC";
    else {
      try {
        return retainRecords(batch, keep);
      } catch (err) {
        if (!(err instanceof CorruptBatchError)) throw err;
        why = err.message;
      }
    }
    const id = `${e.key}@${batchBaseOffset(batch)}`;
    if (!this.reported.has(id)) {
      this.reported.add(id);
      this.logger.error(`compaction: the batch at offset ${batchBaseOffset(batch)} of ${e.key} ${why}; kept as it is, uncompacted`);
    }
    return batch;
  }

  /** Swaps a run of objects for its compacted form: one object under the first one's key, or none. */
  private async write(p: Partition, run: Run): Promise<void> {
    if (!run.changed) return; // a single untouched object stays as it is
    const first = run.inputs[0]!;
    const t = p.topic.meta.id;
    const drop = run.inputs.map((e) => e.base);
    if (run.batches.length === 0) {
      await this.meta.append({ type: "s3-compacted", t, p: p.id, drop, add: [] });
      return;
    }
    const body = encodeObject(run.batches);
    let maxTs = -1;
    for (const e of run.inputs) maxTs = Math.max(maxTs, e.maxTs);
    const { etag } = await this.store.put(first.key, body, { ifMatch: first.etag });
    const last = run.inputs.at(-1)!.last;
    const added = entryRecord({ base: first.base, last, size: body.length, batches: run.batches.length, maxTs, etag, key: first.key });
    if (p.deleted) {
      await this.meta.append({ type: "s3-garbage", keys: [first.key] });
      return;
    }
    await this.meta.append({ type: "s3-compacted", t, p: p.id, drop, add: [added] });
  }

  /** The batches of one object: a whole-object GET (paced), split along its footer. */
  private async batchesOf(e: ObjectEntry): Promise<Uint8Array[]> {
    const wait = this.nextReadAt - Date.now();
    if (wait > 0) await Bun.sleep(wait);
    this.nextReadAt = Math.max(Date.now(), this.nextReadAt) + (e.size / this.opts.readRate) * 1000;
    const { body } = await this.store.get(e.key, undefined, e.etag);
    this.stats.bytesRead += body.length;
    const f = decodeFooter(body, body.length);
    if ("need" in f) throw new Error(`${e.key}: footer does not fit the object`);
    const out: Uint8Array[] = [];
    for (let i = 0; i < f.count; i++) out.push(body.subarray(f.pos[i]!, f.pos[i]! + f.size[i]!));
    return out;
  }
}
