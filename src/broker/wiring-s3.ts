// Wiring of the S3 tier. Before the metadata log opens: the bucket client, and for an empty data dir the cluster
// id (--cluster-id, else the only cluster in the bucket) and the metadata log downloaded from the bucket. After:
// the tier itself, hooked into the log. Any S3 problem at start is an S3StartError naming bucket and endpoint.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { MemoryPlan } from "../memory/budget.ts";
import type { Log } from "../log/log.ts";
import type { Logger } from "../logger.ts";
import type { Catalog } from "../meta/catalog.ts";
import { metaPath, type MetadataLog } from "../meta/metadata-log.ts";
import { clusterRoot } from "../s3/keys.ts";
import { downloadMetadata } from "../s3/metadata-sync.ts";
import { checkBucket, discoverClusterId, startError } from "../s3/restore.ts";
import type { ObjectStore } from "../s3/store.ts";
import { S3Tier } from "../s3/tier.ts";

export interface Bucket {
  store: ObjectStore;
  /** Cluster id found in the bucket for an empty data dir (null: use meta.properties / --cluster-id / a new one). */
  clusterId: string | null;
  /** The metadata log came from the bucket: reconcile once it is replayed. */
  restored: boolean;
}

/** The bucket's client (the AWS SDK adapter). */
export async function makeStore(s3: NonNullable<Config["s3"]>): Promise<ObjectStore> {
  // Loaded only when S3 is on: the SDK costs start-up time and memory that brokers without S3 need not pay.
  const { AwsObjectStore } = await import("../s3/aws-store.ts");
  return new AwsObjectStore({ bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint });
}

export async function openBucket(config: Config, dataDir: string, logger: Logger, store?: ObjectStore): Promise<Bucket | null> {
  const s3 = config.s3;
  if (!s3) return null;
  store ??= await makeStore(s3);
  if (existsSync(join(dataDir, "meta.properties"))) return { store, clusterId: null, restored: false };
  try {
    const clusterId = config.clusterId ?? (await discoverClusterId(store, s3.prefix));
    if (clusterId === null) return { store, clusterId: null, restored: false };
    const t0 = performance.now();
    const got = await downloadMetadata(store, clusterRoot(s3.prefix, clusterId), metaPath(dataDir), config.acceptDataLoss);
    if (got) logger.info(`empty data dir: restoring cluster ${clusterId} from S3 ${store.describe} (metadata log of ${got.bytes} bytes in ${Math.round(performance.now() - t0)} ms)`);
    return { store, clusterId, restored: got !== null };
  } catch (e) {
    throw startError(store, e);
  }
}

export async function buildTier(config: Config, memory: MemoryPlan, bucket: Bucket, clusterId: string, catalog: Catalog, meta: MetadataLog, log: Log, logger: Logger): Promise<S3Tier> {
  const s3 = config.s3!;
  const root = clusterRoot(s3.prefix, clusterId);
  await checkBucket(bucket.store, root);
  const tier = new S3Tier(bucket.store, root, catalog, meta, log, {
    flushIntervalMs: s3.flushIntervalMs,
    targetObjectBytes: s3.targetObjectSize,
    retentionCheckMs: config.retentionCheckIntervalMs,
    compactionCheckMs: config.compactionCheckIntervalMs,
    compactionMinDirtyObjects: config.compactionMinDirtyObjects,
    compactionReadRate: config.compactionReadRate,
    footerCacheBytes: memory.footers,
  }, logger);
  log.attachCold(tier.cold, memory.chunkPool);
  return tier;
}
