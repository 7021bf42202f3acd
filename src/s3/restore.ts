// Starting from the bucket. A broker whose data dir is empty finds its cluster (--cluster-id, or the only
// "klite-<id>/" under --s3-prefix), downloads the metadata log (metadata-sync.ts) and then reconciles the manifest
// in it with a listing of every partition, because the upload may be older than the bucket:
//   - objects flushed after the upload are adopted (their footer gives the offsets), so no flushed record is lost;
//   - manifest entries whose object is gone (retention or compaction after the upload) are dropped, and a missing
//     prefix moves the log start;
//   - an object whose ETag changed was rewritten by compaction: its footer is read again;
//   - an unlisted object whose base falls inside another object's range is what a compaction crash left behind
//     (already merged into that object): it becomes garbage.
// Producer state of adopted objects is not rebuilt (the upload follows every flush, so that window is small).
import type { Catalog } from "../meta/catalog.ts";
import type { MetaRecord } from "../meta/metadata-log.ts";
import type { Logger } from "../logger.ts";
import { baseOffsetOfKey, clusterIdOfPrefix, clustersPrefix, metadataKey } from "./keys.ts";
import { entryRecord, type Manifest, type ObjectEntry } from "./manifest.ts";
import type { ObjectReader } from "./reader.ts";
import type { RecordSink } from "./flusher.ts";
import type { ObjectStore, StoredObject } from "./store.ts";
import { DataLossError } from "../meta/meta-recovery.ts";

/** S3 is unusable at start (missing bucket, wrong credentials, unreachable): the broker must not start. */
export class S3StartError extends Error {
  override name = "S3StartError";
}

/** The start-up failure for an S3 error: "cannot use S3 bucket "b" at <endpoint>: <what S3 said>". */
export function startError(store: ObjectStore, e: unknown): Error {
  if (e instanceof S3StartError || e instanceof DataLossError) return e;
  const msg = (e as Error).message;
  const at = msg.indexOf(` on ${store.describe}: `);
  return new S3StartError(`cannot use S3 ${store.describe}: ${at >= 0 ? msg.slice(at + store.describe.length + 6) : msg}`);
}

/** One LIST proves the bucket exists and the credentials may read it. */
export async function checkBucket(store: ObjectStore, root: string): Promise<void> {
  try {
    await store.list(metadataKey(root));
  } catch (e) {
    throw startError(store, e);
  }
}

/** The cluster id of the only cluster stored under the prefix, null when there is none. */
export async function discoverClusterId(store: ObjectStore, prefix: string): Promise<string | null> {
  const under = clustersPrefix(prefix);
  const listed = await store.list(under, { delimiter: "/" });
  const ids = listed.prefixes.map((p) => clusterIdOfPrefix(p, under)).filter((id): id is string => id !== null);
  if (ids.length > 1) throw new S3StartError(`S3 ${store.describe} holds several clusters under "${under}" (${ids.join(", ")}): pick one with --cluster-id`);
  return ids[0] ?? null;
}

export interface ReconcileStats {
  adopted: number;
  dropped: number;
  orphans: number;
}

export async function reconcile(catalog: Catalog, manifest: Manifest, store: ObjectStore, reader: ObjectReader, meta: RecordSink, logger: Logger): Promise<ReconcileStats> {
  const stats: ReconcileStats = { adopted: 0, dropped: 0, orphans: 0 };
  for (const t of [...catalog.all()]) {
    for (let p = 0; p < t.partitions; p++) {
      const po = manifest.partition(t.id, p);
      if (!po) continue;
      const listed = (await store.list(po.prefix)).objects.filter((o) => baseOffsetOfKey(o.key) !== null);
      const recs = await reconcilePartition(t.id, p, po.entries, listed, reader, stats);
      if (recs.length) await meta.append(...recs);
    }
  }
  if (stats.adopted || stats.dropped || stats.orphans) {
    logger.info(`S3 restore: adopted ${stats.adopted} objects flushed after the last metadata upload, dropped ${stats.dropped} deleted since, ${stats.orphans} left over by compaction`);
  }
  return stats;
}

async function reconcilePartition(t: string, p: number, entries: readonly ObjectEntry[], listed: StoredObject[], reader: ObjectReader, stats: ReconcileStats): Promise<MetaRecord[]> {
  const byKey = new Map(listed.map((o) => [o.key, o]));
  const known = new Map(entries.map((e) => [e.key, e]));
  const recs: MetaRecord[] = [];
  const gone = entries.filter((e) => !byKey.has(e.key));
  if (gone.length) {
    stats.dropped += gone.length;
    recs.push({ type: "s3-compacted", t, p, drop: gone.map((e) => e.base), add: [] });
  }
  // Objects in key (= offset) order; `covered` is the last offset some earlier object already holds.
  let covered = -1;
  const orphans: string[] = [];
  const kept: { base: number; last: number }[] = entries.filter((e) => byKey.has(e.key));
  for (const o of listed) {
    const base = baseOffsetOfKey(o.key)!;
    const e = known.get(o.key);
    if (e && e.etag === o.etag) {
      covered = Math.max(covered, e.last);
      continue;
    }
    if (!e && (base <= covered || kept.some((k) => k.base < base && base <= k.last))) {
      orphans.push(o.key);
      continue;
    }
    reader.invalidate(o.key);
    const { footer, etag, size } = await reader.footer(o.key);
    if (footer.count === 0) continue;
    const last = Math.max(footer.lastOffset, e?.last ?? -1);
    recs.push({ type: "s3-object", t, p, ...entryRecord({ base, last, size, batches: footer.count, maxTs: footer.maxTimestamp, etag, key: o.key }) });
    covered = Math.max(covered, last);
    if (!e) stats.adopted++;
  }
  if (orphans.length) {
    stats.orphans += orphans.length;
    recs.push({ type: "s3-garbage", keys: orphans });
  }
  // Objects missing at the front (retention ran after the upload): the log starts at the first one left.
  if (gone.length && entries[0] && gone[0] === entries[0]) {
    const first = listed.map((o) => baseOffsetOfKey(o.key)!).filter((b) => !orphans.some((k) => baseOffsetOfKey(k) === b))[0];
    const start = first ?? (entries.at(-1)!.last + 1);
    recs.push({ type: "log-start", topic: t, partition: p, offset: start });
  }
  return recs;
}
