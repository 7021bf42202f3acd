// The composition root. A node starts in three steps, each wired in its own file: recover() rebuilds the rooms from
// the data dir (wiring-rooms.ts, with the bucket from wiring-s3.ts), the node takes a role, and the Kafka listener
// opens. A single broker (no --replication-addr) is primary from start to stop: becomePrimary() (wiring-primary.ts)
// right after recovery. In replicated mode the node starts as a standby (its listener answers clients "not here")
// and the role machine of wiring-replication.ts promotes and demotes it. Shutdown goes in the reverse order. Nothing
// here is a module singleton, so tests run several brokers in one process.
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Server } from "bun";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { Catalog } from "../meta/catalog.ts";
import { loadOrCreateMetaProperties } from "../meta/properties.ts";
import type { Log } from "../log/log.ts";
import { HANDLERS, supportedApis } from "../handlers/index.ts";
import type { BrokerContext, BrokerNode } from "../handlers/handler.ts";
import { bindError, KafkaListener } from "../server/listener.ts";
import { prepareDataDir } from "../meta/data-dir.ts";
import { checkFreeSpace } from "../wal/space.ts";
import { startHealthServer } from "../http/health.ts";
import { lockDataDir } from "./lock.ts";
import type { S3Tier } from "../s3/tier.ts";
import type { ObjectStore } from "../s3/store.ts";
import { makeStore, openBucket } from "./wiring-s3.ts";
import { closeRooms, walDir, recover, type Rooms } from "./wiring-rooms.ts";
import { recoverReplicated } from "./damaged-wal.ts";
import { becomePrimary } from "./wiring-primary.ts";
import { checkConditionalWrites, freshClusterId, leaseClusterId, ReplicatedNode, ReplicationStartError, type NodeState } from "./wiring-replication.ts";
import { notifyRole, type Role, type RoleObserver } from "./roles.ts";
import { VERSION } from "../version.ts";
import { describePlan, memoryLimit, planMemory, type MemoryPlan } from "../memory/budget.ts";
import { startMemoryWatchdog, type Watchdog } from "../memory/watchdog.ts";

export { VERSION };
const SHUTDOWN_DEADLINE_MS = 10_000;
/** How long shutdown keeps trying to get the last unflushed data and the metadata log into S3. */
const S3_SHUTDOWN_DEADLINE_MS = 30_000;

/** The handlers' view of the node: its rooms as they are now. */
function contextOf(config: Config, clusterId: string, nodeId: number, logger: Logger, memory: MemoryPlan, state: NodeState): BrokerContext & { advertised: { host: string; port: number } } {
  return {
    config,
    clusterId,
    nodeId,
    memory,
    advertised: { host: config.advertisedAddr?.host ?? "", port: config.advertisedAddr?.port ?? 0 },
    logger,
    apis: supportedApis(HANDLERS),
    get catalog() {
      return state.rooms.catalog;
    },
    get log() {
      return state.rooms.log;
    },
    get groups() {
      return state.rooms.groups;
    },
    get offsets() {
      return state.rooms.offsets;
    },
    get stopped() {
      return state.stopped;
    },
    get role() {
      return state.role;
    },
    get peer(): BrokerNode | null {
      return state.peerOf?.() ?? null;
    },
  };
}

export class Broker {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly context: BrokerContext,
    /** Where the listener is bound (the real port when --listen asked for port 0). */
    readonly address: { host: string; port: number },
    private readonly state: NodeState,
    private readonly parts: {
      listener: KafkaListener;
      health: Server<undefined> | null;
      unlock: () => void;
      observers: readonly RoleObserver[];
      /** Replicated mode's role machine, null for a single broker. */
      node: ReplicatedNode | null;
      watchdog: Watchdog;
    },
  ) {}

  get log(): Log {
    return this.state.rooms.log;
  }
  get catalog(): Catalog {
    return this.state.rooms.catalog;
  }
  /** The S3 tier, null without --s3-bucket. */
  get s3(): S3Tier | null {
    return this.state.rooms.tier;
  }
  get role(): Role {
    return this.state.role;
  }

  /** Replicated mode: the node's replication state (what GET /replication answers); null for a single broker. */
  replication(): Record<string, unknown> | null {
    return this.parts.node?.status() ?? null;
  }

  /**
   * Starts a broker: recovery, then the listener. Resolves once it serves clients. `hooks.objectStore` replaces the
   * S3 client (benchmarks count requests through it); `hooks.observers` hear of role changes.
   */
  static async start(config: Config, logger: Logger, hooks: { objectStore?: ObjectStore; observers?: RoleObserver[] } = {}): Promise<Broker> {
    const t0 = performance.now();
    const dataDir = resolve(config.dataDir);
    prepareDataDir(dataDir);
    checkFreeSpace(dataDir, walDir(dataDir), config.walSegmentMaxBytes, logger);
    const memory = planMemory(memoryLimit(config.memoryLimit), config.chunkPoolMemory);
    const unlock = lockDataDir(dataDir);
    let rooms: Rooms | null = null;
    let health: Server<undefined> | null = null;
    try {
      const replicated = config.replicationAddr !== null && config.s3 !== null;
      // A fresh node of a replicated pair joins the cluster its lease names.
      const store = hooks.objectStore ?? (config.s3 ? await makeStore(config.s3) : undefined);
      let leaseCluster = replicated ? await leaseClusterId(store!, config.s3!.prefix).catch(() => null) : null;
      // Two fresh nodes started at once find no lease: they agree on an id through the bucket (lease/cluster-id.ts).
      if (replicated && !leaseCluster && !config.clusterId && !existsSync(join(dataDir, "meta.properties"))) {
        leaseCluster = await freshClusterId(store!, config.s3!.prefix, logger);
      }
      // With S3 and an empty data dir, the metadata log may come from the bucket (before meta.properties is written).
      const bucket = await openBucket({ ...config, clusterId: config.clusterId ?? leaseCluster }, dataDir, logger, store);
      if (replicated) await checkConditionalWrites(bucket!, config.s3!.prefix);
      const props = loadOrCreateMetaProperties(dataDir, { clusterId: bucket?.clusterId ?? config.clusterId ?? leaseCluster, nodeId: config.nodeId });
      if (leaseCluster && leaseCluster !== props.clusterId) {
        throw new ReplicationStartError(`this data dir holds cluster ${props.clusterId}, but the lease in the bucket belongs to cluster ${leaseCluster}; refusing to mix clusters (another --s3-prefix, or an empty data dir to join ${leaseCluster})`);
      }
      let state: NodeState | null = null;
      const healthAddr = config.healthAddr;
      if (healthAddr) {
        try {
          health = startHealthServer(healthAddr.host, healthAddr.port, { ready: () => state?.ready ?? false, role: () => state?.role ?? "standby", replication: () => node?.status() ?? null });
        } catch (e) {
          throw bindError("health-addr", healthAddr.host, healthAddr.port, e);
        }
      }
      let node: ReplicatedNode | null = null;
      // In a pair, WAL damage the peer holds is copied back from it (damaged-wal.ts).
      rooms = replicated ? await recoverReplicated(config, dataDir, bucket!, props.clusterId, logger, memory) : await recover(config, dataDir, bucket, props.clusterId, logger, memory);
      state = { rooms, role: replicated ? "standby" : "primary", primary: null, peerOf: null, stopped: false, ready: false };
      if (!replicated) state.primary = becomePrimary(rooms, config, logger);

      const context = contextOf(config, props.clusterId, props.nodeId, logger, memory, state);
      const listener = new KafkaListener(context, HANDLERS, logger);
      let bound: { host: string; port: number };
      try {
        bound = listener.listen(config.listen.host, config.listen.port);
      } catch (e) {
        throw bindError("listen", config.listen.host, config.listen.port, e);
      }
      // Advertise what clients can reach: the configured address, else the listen host (localhost for a wildcard).
      const wildcard = config.listen.host === "" || config.listen.host === "0.0.0.0" || config.listen.host === "::";
      context.advertised.host = config.advertisedAddr?.host ?? (wildcard ? "localhost" : config.listen.host);
      context.advertised.port = config.advertisedAddr?.port ?? bound.port;

      const observers = hooks.observers ?? [];
      if (replicated) {
        node = new ReplicatedNode({ config, dataDir, clusterId: props.clusterId, logger, bucket: bucket!, state, observers, kafka: { nodeId: props.nodeId, host: context.advertised.host, port: context.advertised.port } });
      }
      const st = state;
      const watchdog = startMemoryWatchdog(memory, () => st.rooms.wal.poolAllocatedBytes + listener.budget.pages.allocatedBytes + listener.budget.requestBytes, logger);
      const broker = new Broker(context, { host: config.listen.host || "0.0.0.0", port: bound.port }, state, { listener, health, unlock, observers, node, watchdog });
      state.ready = true;
      if (node) node.start();
      else void notifyRole(observers, "promoted", logger);
      const { metaRecords, walEntries, walSegments } = rooms.recovered;
      logger.info(
        `klite ${VERSION} listening on ${broker.address.host}:${bound.port}, advertising ${context.advertised.host}:${context.advertised.port}, ` +
          `cluster id ${props.clusterId}, node id ${props.nodeId}, data dir ${dataDir}` +
          (health ? `, health on ${health.hostname}:${health.port}` : "") +
          (rooms.tier ? `, S3 ${rooms.tier.store.describe} under ${rooms.tier.root}` : "") +
          (node ? `, replicated as ${node.id} (starting as standby)` : "") +
          ` (recovered ${metaRecords} metadata records and ${walEntries} WAL entries from ${walSegments} segments in ${Math.round(performance.now() - t0)} ms); ` +
          describePlan(memory),
      );
      return broker;
    } catch (e) {
      if (rooms) await closeRooms(rooms).catch(() => {});
      health?.stop(true);
      unlock();
      throw e;
    }
  }

  /** What the connections hold now: read pages, queued response bytes, request bytes in flight (tests, stats). */
  get connectionMemory(): { pages: number; queued: number; requests: number; connections: number } {
    const { budget, connections } = this.parts.listener;
    return { pages: budget.pages.inUse, queued: budget.queuedBytes, requests: budget.requestBytes, connections };
  }

  get isReady(): boolean {
    return this.state.ready;
  }

  /**
   * Graceful stop: no new connections, in-flight requests answered (bounded), everything queued in the WAL and the
   * metadata log written and fsync'd (and with S3, flushed there), files closed. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const { listener, health, unlock, observers, node, watchdog } = this.parts;
    const state = this.state;
    watchdog.stop();
    const logger = this.context.logger;
    const t0 = performance.now();
    logger.info("shutting down: finishing in-flight requests");
    state.stopped = true;
    state.rooms.log.wakeAll();
    state.rooms.groups.releaseWaiters();
    await listener.stop(SHUTDOWN_DEADLINE_MS);
    logger.debug(`shutdown: requests answered and connections closed in ${Math.round(performance.now() - t0)} ms`);
    if (state.role === "primary") {
      await Promise.race([notifyRole(observers, "stopping", logger), new Promise((r) => setTimeout(r, SHUTDOWN_DEADLINE_MS))]);
    }
    if (node) await node.stop();
    else await state.primary?.stepDown({ flushToS3: true, deadline: Date.now() + S3_SHUTDOWN_DEADLINE_MS });
    await closeRooms(state.rooms);
    health?.stop(true);
    unlock();
    logger.info(`shut down cleanly in ${Math.round(performance.now() - t0)} ms`);
  }
}
