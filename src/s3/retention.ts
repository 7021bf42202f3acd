// Retention on S3, per topic, with Kafka's semantics applied to whole objects (Kafka deletes whole segments):
//   retention.ms    (default 7 days, -1 = forever): leading objects whose max timestamp is older than now - ms go;
//   retention.bytes (default -1 = unlimited): leading objects go while the partition (objects + unflushed data)
//                   stays at or above the limit without them.
// Only topics whose cleanup.policy includes "delete". Data not yet in S3 is never deleted. Objects wholly below a log
// start that DeleteRecords moved are deleted at the same check. One metadata-log append
// moves each partition's log start offset and drops the objects from the manifest together (ListOffsets earliest
// and Fetch follow at once); the objects are deleted from the bucket afterwards by the garbage collector, and a
// crash in between only delays that (the garbage list is in the metadata log).
import type { Partition } from "../log/partition.ts";
import type { Logger } from "../logger.ts";
import type { MetaRecord } from "../meta/metadata-log.ts";
import { hasCleanupPolicy, topicConfig } from "../meta/topic-configs.ts";
import type { RecordSink } from "./flusher.ts";
import type { Manifest, PartitionObjects } from "./manifest.ts";
import type { ObjectStore } from "./store.ts";

/** The new log start offset of p under its retention settings, or null when nothing expires. */
export function retentionStart(p: Partition, po: PartitionObjects, now: number): number | null {
  const configs = p.topic.meta.configs;
  if (!hasCleanupPolicy(configs, "delete")) return null;
  const ms = Number(topicConfig(configs, "retention.ms"));
  const limit = Number(topicConfig(configs, "retention.bytes"));
  const entries = po.entries;
  let n = 0;
  if (ms >= 0) while (n < entries.length && entries[n]!.maxTs < now - ms) n++;
  if (limit >= 0) {
    let size = p.unflushedBytes + po.bytes;
    for (let i = 0; i < n; i++) size -= entries[i]!.size;
    while (n < entries.length && size - entries[n]!.size >= limit) size -= entries[n++]!.size;
  }
  if (n === 0) return null;
  return Math.max(p.logStartOffset, entries[n - 1]!.last + 1);
}

/** Applies retention to every partition; returns how many partitions moved their log start. */
export async function applyRetention(partitions: Iterable<Partition>, manifest: Manifest, meta: RecordSink, logger: Logger, now = Date.now()): Promise<number> {
  const recs: MetaRecord[] = [];
  let moved = 0;
  for (const p of partitions) {
    if (p.deleted) continue;
    const po = manifest.of(p);
    const start = retentionStart(p, po, now);
    const t = p.topic.meta.id;
    if (start !== null && start > p.logStartOffset) {
      recs.push({ type: "s3-trim", t, p: p.id, before: start }, { type: "log-start", topic: t, partition: p.id, offset: start });
      logger.info(`retention: ${p} now starts at offset ${start}`);
      moved++;
    } else if (po.entries.length && po.entries[0]!.last < p.logStartOffset) {
      // DeleteRecords moved the log start (whatever the cleanup policy): objects wholly below it go.
      recs.push({ type: "s3-trim", t, p: p.id, before: p.logStartOffset });
    }
  }
  if (recs.length) await meta.append(...recs);
  return moved;
}

const GC_BATCH = 500;
const GC_PARALLEL = 8;

/** Deletes garbage keys from the bucket and records that they are gone; returns how many went. */
export async function collectGarbage(store: ObjectStore, manifest: Manifest, meta: RecordSink): Promise<number> {
  const keys = [...manifest.garbage].slice(0, GC_BATCH);
  const done: string[] = [];
  for (let i = 0; i < keys.length; i += GC_PARALLEL) {
    const slice = keys.slice(i, i + GC_PARALLEL);
    const results = await Promise.allSettled(slice.map((k) => store.delete(k)));
    results.forEach((r, j) => r.status === "fulfilled" && done.push(slice[j]!));
    if (done.length < i + slice.length) break; // S3 trouble: try again next time
  }
  if (done.length) await meta.append({ type: "s3-deleted", keys: done });
  return done.length;
}
