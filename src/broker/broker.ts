// The composition root: builds every room from the config, recovers state (metadata log, then WAL), opens the
// listener, and shuts down in the reverse order. Nothing here is a module singleton, so tests run several brokers
// in one process.
import { join, resolve } from "node:path";
import type { Server } from "bun";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import { Catalog } from "../meta/catalog.ts";
import { MetadataLog, metaPath } from "../meta/metadata-log.ts";
import { loadOrCreateMetaProperties } from "../meta/properties.ts";
import { Log } from "../log/log.ts";
import type { Partition } from "../log/partition.ts";
import { Wal } from "../wal/wal.ts";
import { HANDLERS, supportedApis } from "../handlers/index.ts";
import type { BrokerContext } from "../handlers/handler.ts";
import { bindError, KafkaListener } from "../server/listener.ts";
import { prepareDataDir } from "../meta/data-dir.ts";
import { startHealthServer } from "../http/health.ts";
import { lockDataDir } from "./lock.ts";
import { GroupCoordinator } from "../groups/coordinator.ts";
import { OffsetStore } from "../groups/offsets.ts";
import type { S3Tier } from "../s3/tier.ts";
import type { ObjectStore } from "../s3/store.ts";
import { buildTier, openBucket } from "./wiring-s3.ts";
import { notifyRole, type RoleObserver } from "./roles.ts";
import pkg from "../../package.json" with { type: "json" };

export const VERSION: string = pkg.version;
const SHUTDOWN_DEADLINE_MS = 10_000;
/** How long shutdown keeps trying to get the last unflushed data and the metadata log into S3. */
const S3_SHUTDOWN_DEADLINE_MS = 30_000;
const PRODUCER_EXPIRY_CHECK_MS = 10 * 60_000;
/** Kafka's offsets.retention.check.interval.ms default. */
const OFFSET_EXPIRY_CHECK_MS = 10 * 60_000;

export class Broker {
  private stopping: Promise<void> | null = null;
  private readonly timers: ReturnType<typeof setInterval>[] = [];

  private constructor(
    readonly context: BrokerContext,
    /** Where the listener is bound (the real port when --listen asked for port 0). */
    readonly address: { host: string; port: number },
    private readonly parts: {
      meta: MetadataLog;
      wal: Wal<Partition>;
      listener: KafkaListener;
      health: Server<undefined> | null;
      tier: S3Tier | null;
      unlock: () => void;
      state: { stopped: boolean; ready: boolean };
      observers: readonly RoleObserver[];
    },
  ) {}

  get log(): Log {
    return this.context.log;
  }
  get catalog(): Catalog {
    return this.context.catalog;
  }
  /** The S3 tier, null without --s3-bucket. */
  get s3(): S3Tier | null {
    return this.parts.tier;
  }

  /**
   * Starts a broker: recovery, then the listener. Resolves once it serves clients. `hooks.objectStore` replaces the
   * S3 client (benchmarks count requests through it); `hooks.observers` hear of role changes.
   */
  static async start(config: Config, logger: Logger, hooks: { objectStore?: ObjectStore; observers?: RoleObserver[] } = {}): Promise<Broker> {
    const t0 = performance.now();
    const dataDir = resolve(config.dataDir);
    prepareDataDir(dataDir);
    const unlock = lockDataDir(dataDir);
    let health: Server<undefined> | null = null;
    try {
      // With S3 and an empty data dir, the metadata log may come from the bucket (before meta.properties is written).
      const bucket = await openBucket(config, dataDir, logger, hooks.objectStore);
      const props = loadOrCreateMetaProperties(dataDir, { clusterId: bucket?.clusterId ?? config.clusterId, nodeId: config.nodeId });
      const state = { stopped: false, ready: false };
      const healthAddr = config.healthAddr;
      if (healthAddr) {
        try {
          health = startHealthServer(healthAddr.host, healthAddr.port, { ready: () => state.ready, role: () => "primary" });
        } catch (e) {
          throw bindError("health-addr", healthAddr.host, healthAddr.port, e);
        }
      }

      const meta = MetadataLog.open(metaPath(dataDir), logger);
      const catalog = new Catalog(meta);
      const wal = new Wal<Partition>({
        dir: join(dataDir, "wal"),
        segmentMaxBytes: config.walSegmentMaxBytes,
        syncIntervalMs: config.walSyncIntervalMs,
        maxDiskBytes: config.walMaxDiskSize,
        cacheBytes: config.chunkPoolMemory,
        // With S3 the pool bounds unflushed data: groups small enough that the back-pressure gate bites in steps.
        maxGroupBytes: config.s3 ? Math.max(64 * 1024, Math.floor(config.chunkPoolMemory / 8)) : undefined,
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
      const tier = bucket ? await buildTier(config, bucket, props.clusterId, catalog, meta, log, logger) : null;
      const metaRecords = meta.replay();
      meta.activate();
      if (tier && bucket?.restored) await tier.reconcile();
      const replay = await log.replayWal();
      await wal.start();
      tier?.start();

      const handlers = HANDLERS;
      const advertised = { host: config.advertisedAddr?.host ?? "", port: config.advertisedAddr?.port ?? 0 };
      const context: BrokerContext = {
        config,
        clusterId: props.clusterId,
        nodeId: props.nodeId,
        advertised,
        catalog,
        log,
        groups,
        offsets,
        logger,
        apis: supportedApis(handlers),
        get stopped() {
          return state.stopped;
        },
      };
      const listener = new KafkaListener(context, handlers, logger);
      let bound: { host: string; port: number };
      try {
        bound = listener.listen(config.listen.host, config.listen.port);
      } catch (e) {
        throw bindError("listen", config.listen.host, config.listen.port, e);
      }
      // Advertise what clients can reach: the configured address, else the listen host (localhost for a wildcard).
      const wildcard = config.listen.host === "" || config.listen.host === "0.0.0.0" || config.listen.host === "::";
      advertised.host = config.advertisedAddr?.host ?? (wildcard ? "localhost" : config.listen.host);
      advertised.port = config.advertisedAddr?.port ?? bound.port;

      const broker = new Broker(context, { host: config.listen.host || "0.0.0.0", port: bound.port }, { meta, wal, listener, health, tier, unlock, state, observers: hooks.observers ?? [] });
      broker.timers.push(setInterval(() => log.expireProducers(), PRODUCER_EXPIRY_CHECK_MS));
      const offsetCheck = Math.min(Math.max(config.offsetsRetentionMs / 2, 1000), OFFSET_EXPIRY_CHECK_MS);
      broker.timers.push(setInterval(() => {
        offsets.expire(groups, config.offsetsRetentionMs).then(
          (emptied) => emptied.forEach((id) => groups.forgetEmpty(id)),
          (e: Error) => logger.error(`offset expiry failed: ${e.message}`),
        );
      }, offsetCheck));
      for (const t of broker.timers) t.unref?.();
      state.ready = true;
      void notifyRole(broker.parts.observers, "promoted", logger);
      logger.info(
        `klite ${VERSION} listening on ${broker.address.host}:${bound.port}, advertising ${advertised.host}:${advertised.port}, ` +
          `cluster id ${props.clusterId}, node id ${props.nodeId}, data dir ${dataDir}` +
          (health ? `, health on ${health.hostname}:${health.port}` : "") +
          (tier ? `, S3 ${tier.store.describe} under ${tier.root}` : "") +
          ` (recovered ${metaRecords} metadata records and ${replay.entries} WAL entries from ${replay.segments} segments in ${Math.round(performance.now() - t0)} ms)`,
      );
      return broker;
    } catch (e) {
      health?.stop(true);
      unlock();
      throw e;
    }
  }

  get isReady(): boolean {
    return this.parts.state.ready;
  }

  /**
   * Graceful stop: no new connections, in-flight requests answered (bounded), everything queued in the WAL and the
   * metadata log written and fsync'd, files closed. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const { meta, wal, listener, health, tier, unlock, state, observers } = this.parts;
    const logger = this.context.logger;
    logger.info("shutting down: finishing in-flight requests");
    state.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.log.wakeAll();
    await listener.stop(SHUTDOWN_DEADLINE_MS);
    await Promise.race([notifyRole(observers, "stopping", logger), new Promise((r) => setTimeout(r, SHUTDOWN_DEADLINE_MS))]);
    this.context.groups.close();
    await wal.drain();
    if (tier) await tier.stop(Date.now() + S3_SHUTDOWN_DEADLINE_MS); // reads the WAL: before it closes
    await wal.close();
    await meta.close();
    health?.stop(true);
    unlock();
    logger.info("shut down cleanly");
  }
}
