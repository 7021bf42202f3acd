// recover(): the rooms that hold a node's state, rebuilt from its data dir: the metadata log (topics, configs,
// groups, offsets, producer ids, the S3 manifest), then the WAL (partition indexes, offsets, producer state). Both
// roles start from here; what runs on top (the S3 flusher, timers, the listener's answers, the replication stream)
// is wired by wiring-primary.ts and wiring-standby.ts. A standby recovers again whenever its replication session
// starts over (the primary's metadata snapshot replaces its metadata log first).
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import { Catalog } from "../meta/catalog.ts";
import { metaPath, type MetadataLog } from "../meta/metadata-log.ts";
import { openMetadataLog } from "../meta/meta-recovery.ts";
import { fetchMetadataImage } from "../s3/metadata-sync.ts";
import { clusterRoot } from "../s3/keys.ts";
import { Log } from "../log/log.ts";
import type { Partition } from "../log/partition.ts";
import { Wal } from "../wal/wal.ts";
import { GroupCoordinator } from "../groups/coordinator.ts";
import { OffsetStore } from "../groups/offsets.ts";
import type { S3Tier } from "../s3/tier.ts";
import { buildTier, type Bucket } from "./wiring-s3.ts";
import { memoryLimit, planMemory, type MemoryPlan } from "../memory/budget.ts";

export interface Rooms {
  meta: MetadataLog;
  catalog: Catalog;
  wal: Wal<Partition>;
  log: Log;
  groups: GroupCoordinator;
  offsets: OffsetStore;
  /** The S3 tier (manifest and cold reads; its flusher and maintenance start only on a primary), null without S3. */
  tier: S3Tier | null;
  /** What recovery found, for the start-up line. */
  recovered: { metaRecords: number; walEntries: number; walSegments: number };
}

export function walDir(dataDir: string): string {
  return join(dataDir, "wal");
}

/** `memory`: the node's memory plan (the same one again when a standby recovers anew, if not given). */
export async function recover(config: Config, dataDir: string, bucket: Bucket | null, clusterId: string, logger: Logger, memory: MemoryPlan = planMemory(memoryLimit(config.memoryLimit), config.chunkPoolMemory)): Promise<Rooms> {
  // A damaged metadata log is restored from the bucket's copy, refused, or (accepted) cut down (meta-recovery.ts).
  const image = bucket && config.s3 ? () => fetchMetadataImage(bucket.store, clusterRoot(config.s3!.prefix, clusterId)) : null;
  const meta = await openMetadataLog(metaPath(dataDir), logger, { image, acceptDataLoss: config.acceptDataLoss });
  const catalog = new Catalog(meta, config.nodeId, config.maxPartitions);
  const wal = new Wal<Partition>({
    dir: walDir(dataDir),
    segmentMaxBytes: config.walSegmentMaxBytes,
    syncIntervalMs: config.walSyncIntervalMs,
    maxDiskBytes: config.walMaxDiskSize,
    cacheBytes: memory.chunkPool,
    // With S3 the pool bounds unflushed data: groups small enough that the back-pressure gate bites in steps.
    maxGroupBytes: config.s3 ? Math.max(64 * 1024, Math.floor(memory.chunkPool / 8)) : undefined,
    logger,
  });
  const log = new Log(catalog, meta, wal, logger);
  const groups = new GroupCoordinator(meta, {
    minSessionTimeoutMs: config.groupMinSessionTimeoutMs,
    maxSessionTimeoutMs: config.groupMaxSessionTimeoutMs,
    initialRebalanceDelayMs: config.groupInitialRebalanceDelayMs,
    offsetsRetentionMs: config.offsetsRetentionMs,
  }, logger);
  const offsets = new OffsetStore(meta, catalog, groups);
  try {
    const tier = bucket ? await buildTier(config, memory, bucket, clusterId, catalog, meta, log, logger) : null;
    const metaRecords = meta.replay();
    if (tier && bucket?.restored) {
      bucket.restored = false; // once: a later recovery (of a standby) starts from what the primary sent
      await tier.reconcile();
    }
    const replay = await log.replayWal({ acceptDataLoss: config.acceptDataLoss });
    await wal.start();
    return { meta, catalog, wal, log, groups, offsets, tier, recovered: { metaRecords, walEntries: replay.entries, walSegments: replay.segments } };
  } catch (e) {
    groups.close();
    await wal.close().catch(() => {});
    await meta.close().catch(() => {});
    throw e;
  }
}

/** Closes the rooms' files (everything queued is written first). Nothing goes to S3 here: see S3Tier.stop. */
export async function closeRooms(r: Rooms): Promise<void> {
  r.groups.close();
  await r.wal.close();
  await r.meta.close();
}
