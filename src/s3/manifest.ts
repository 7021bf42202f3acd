// The manifest: which S3 objects hold which offsets of which partition, kept as metadata-log records so a restart
// knows what is in S3 without listing the bucket, and so "in S3" is durable before any WAL segment is let go.
// (A start from an empty data dir restores the uploaded metadata log and then reconciles it with a listing, see
// restore.ts, because objects flushed after the last upload are not in it.)
//
// Records (JSON in the metadata log, typed and decoded in records.ts; t = topic id, p = partition):
//   s3-object     {t, p, b, l, s, n, ts, e}  object with base offset b, last offset l, s bytes, n batches, max
//                                            timestamp ts, ETag e; replaces an entry with the same base
//   s3-compacted  {t, p, drop: [b...], add: [object...]}  compaction swapped these entries (keys not reused go to garbage)
//   s3-trim       {t, p, before}             retention: entries wholly below `before` go (to garbage)
//   s3-cleaned    {t, p, o}                  compaction watermark: entries below o are clean
//   s3-end        {t, p, o}                  highest end ever flushed (snapshot only; compaction may empty the tail)
//   s3-garbage    {keys}                     keys to delete from the bucket (retention, compaction, deleted topics)
//   s3-deleted    {keys}                     those keys are gone
// Entries keep their nominal ranges [b, l]; they never overlap and, with compaction, may leave gaps.
import type { Catalog, CatalogListener, TopicMeta } from "../meta/catalog.ts";
import type { MetaOwner } from "../meta/metadata-log.ts";
import type { RawRecord } from "../meta/records.ts";
import { MANIFEST_RECORD_TYPES, decodeManifestRecord, type ManifestRecord, type ObjectFields } from "./records.ts";
import type { Partition } from "../log/partition.ts";
import { objectKey, partitionPrefix } from "./keys.ts";

export interface ObjectEntry {
  base: number;
  last: number;
  size: number;
  batches: number;
  maxTs: number;
  etag: string;
  key: string;
}

export class PartitionObjects {
  entries: ObjectEntry[] = [];
  /** One past the highest offset ever flushed (not lowered when compaction empties the tail). */
  end = 0;
  /** Compaction watermark: entries ending below it were compacted already. */
  cleaned = 0;

  constructor(readonly prefix: string) {}

  /** Index of the first entry whose last offset is >= offset, or entries.length. */
  find(offset: number): number {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.last < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get bytes(): number {
    let n = 0;
    for (const e of this.entries) n += e.size;
    return n;
  }
}

/** An object as it appears in records. */
export function entryRecord(e: ObjectEntry): ObjectFields {
  return { b: e.base, l: e.last, s: e.size, n: e.batches, ts: e.maxTs, e: e.etag };
}

export class Manifest implements MetaOwner<ManifestRecord>, CatalogListener {
  readonly types = MANIFEST_RECORD_TYPES;
  private readonly parts = new Map<string, PartitionObjects>();
  /** Keys no entry refers to any more, waiting to be deleted from the bucket. */
  readonly garbage = new Set<string>();
  /** Bumped on every change, so the metadata uploader knows when there is something new. */
  version = 0;

  constructor(private readonly catalog: Catalog, private readonly root: string) {
    catalog.listen(this);
  }

  /** The objects of p (created empty on first use). */
  of(p: Partition): PartitionObjects {
    return this.partition(p.topic.meta.id, p.id)!;
  }

  /** The objects of a partition by topic id, null when the topic or partition does not exist. */
  partition(topicId: string, partition: number): PartitionObjects | null {
    const k = `${topicId}/${partition}`;
    let po = this.parts.get(k);
    if (!po) {
      const t = this.catalog.topicById(topicId);
      if (!t || partition < 0 || partition >= t.partitions) return null;
      po = new PartitionObjects(partitionPrefix(this.root, t.name, t.id, partition));
      this.parts.set(k, po);
    }
    return po;
  }

  keyFor(p: Partition, base: number): string {
    return objectKey(this.of(p).prefix, base);
  }

  /** A record adding an object of p. */
  objectRecord(p: Partition, e: Omit<ObjectEntry, "key">): ManifestRecord {
    return { type: "s3-object", t: p.topic.meta.id, p: p.id, ...entryRecord({ ...e, key: "" }) };
  }

  // --- MetaOwner -------------------------------------------------------------------------------------------

  decode(raw: RawRecord): ManifestRecord {
    return decodeManifestRecord(raw);
  }

  apply(rec: ManifestRecord): void {
    this.version++;
    if (rec.type === "s3-garbage") {
      for (const k of rec.keys) this.garbage.add(k);
      return;
    }
    if (rec.type === "s3-deleted") {
      for (const k of rec.keys) this.garbage.delete(k);
      return;
    }
    const po = this.partition(rec.t, rec.p);
    if (!po) return; // topic deleted since
    switch (rec.type) {
      case "s3-object": {
        const e = this.entry(po, rec);
        const i = po.find(e.base);
        if (i < po.entries.length && po.entries[i]!.base === e.base) po.entries[i] = e;
        else po.entries.splice(i, 0, e);
        if (e.last + 1 > po.end) po.end = e.last + 1;
        return;
      }
      case "s3-compacted": {
        const drop = new Set(rec.drop);
        const add = rec.add.map((r) => this.entry(po, r));
        const kept = new Set(add.map((e) => e.key));
        for (const e of po.entries) if (drop.has(e.base) && !kept.has(e.key)) this.garbage.add(e.key);
        po.entries = po.entries.filter((e) => !drop.has(e.base)).concat(add).sort((a, b) => a.base - b.base);
        return;
      }
      case "s3-trim": {
        const before = rec.before;
        while (po.entries.length && po.entries[0]!.last < before) this.garbage.add(po.entries.shift()!.key);
        return;
      }
      case "s3-cleaned":
        po.cleaned = Math.max(po.cleaned, rec.o);
        return;
      case "s3-end":
        po.end = Math.max(po.end, rec.o);
        return;
    }
  }

  private entry(po: PartitionObjects, r: ObjectFields): ObjectEntry {
    return { base: r.b, last: r.l, size: r.s, batches: r.n, maxTs: r.ts, etag: r.e, key: objectKey(po.prefix, r.b) };
  }

  snapshot(): ManifestRecord[] {
    const recs: ManifestRecord[] = [];
    for (const [k, po] of this.parts) {
      const [t, p] = [k.slice(0, k.indexOf("/")), Number(k.slice(k.indexOf("/") + 1))];
      for (const e of po.entries) recs.push({ type: "s3-object", t, p, ...entryRecord(e) });
      if (po.end > 0) recs.push({ type: "s3-end", t, p, o: po.end });
      if (po.cleaned > 0) recs.push({ type: "s3-cleaned", t, p, o: po.cleaned });
    }
    if (this.garbage.size) recs.push({ type: "s3-garbage", keys: [...this.garbage] });
    return recs;
  }

  // --- CatalogListener: a deleted topic's objects become garbage ------------------------------------------------

  topicDeleted(t: TopicMeta): void {
    for (let p = 0; p < t.partitions; p++) {
      const k = `${t.id}/${p}`;
      const po = this.parts.get(k);
      if (!po) continue;
      for (const e of po.entries) this.garbage.add(e.key);
      this.parts.delete(k);
    }
    this.version++;
  }
  topicCreated(): void {}
  partitionsAdded(): void {}
  configsChanged(): void {}
}
