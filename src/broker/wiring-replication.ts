// Replicated mode (--replication-addr): the role machine of one node of an active/standby pair (DESIGN.md §5).
// Every node starts as a standby and reads the lease (lease/lease.ts) every --lease-retry-interval:
//   - no lease: create it (If-None-Match: *) and become primary;
//   - a lease held by another node: follow it (repl/receiver.ts), keeping a copy of everything it acknowledges;
//   - a lease seen unchanged for --lease-duration, or released: take it over (If-Match, epoch + 1) if this node may:
//     it was the holder of that very term, or the lease lists it as in sync with the holder's stream, or the holder
//     released it after flushing everything to S3 (then this node restores from the bucket first). Otherwise it waits:
//     taking over without every acknowledged record would lose them.
// Promotion: the receiver stops (frames of the old term are refused from then on), the WAL and metadata writes
// settle, becomePrimary() (wiring-primary.ts) resumes S3 flushing from what the manifest says, and standbys are
// served (repl/sender.ts). Demotion (the lease was lost: 412, or not renewed for a lease duration): produce is refused
// at once, the sender and the S3 tier stop, and the node follows the new primary with a full resync.
// Graceful stop of a primary: everything written is replicated, then the lease is released (and with no standby in
// sync, everything goes to S3 first), so the standby takes over within one poll (GOODBYE makes it poll at once).
import { rmSync } from "node:fs";
import { hostname } from "node:os";
import type { TCPSocketListener } from "bun";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { BrokerNode } from "../handlers/handler.ts";
import { metaPath } from "../meta/metadata-log.ts";
import { writeFileDurably } from "../meta/durable-file.ts";
import { clusterRoot } from "../s3/keys.ts";
import { downloadMetadata } from "../s3/metadata-sync.ts";
import { HeldLease, LeaseObject, LeaseTaken, LeaseWatcher, leaseKey, monotonic, type LeaseBody, type Observed } from "../lease/lease.ts";
import { checkStore } from "../lease/store-checks.ts";
import { agreeClusterId } from "../lease/cluster-id.ts";
import { newClusterId } from "../meta/properties.ts";
import { discoverClusterId, startError } from "../s3/restore.ts";
import { listenLinks, type Link } from "../repl/link.ts";
import { FrameType, json } from "../repl/frames.ts";
import { loadOrCreatePki, loadPki, type ReplicationPki } from "../repl/pki.ts";
import { ReplicationReceiver } from "../repl/receiver.ts";
import { ReplicationSender } from "../repl/sender.ts";
import { readTerm, writeTerm, type Term } from "../repl/term.ts";
import { closeRooms, recover, walDir, type Rooms } from "./wiring-rooms.ts";
import { becomePrimary, type PrimaryRole } from "./wiring-primary.ts";
import { setWalAside } from "./damaged-wal.ts";
import { WalDataLossError } from "../log/damage.ts";
import type { Bucket } from "./wiring-s3.ts";
import type { ObjectStore } from "../s3/store.ts";
import { notifyRole, type Role, type RoleObserver } from "./roles.ts";

/** The part of the node the handlers and the health server see. */
export interface NodeState {
  rooms: Rooms;
  role: Role;
  primary: PrimaryRole | null;
  peerOf: (() => BrokerNode | null) | null;
  stopped: boolean;
  ready: boolean;
}

export class ReplicationStartError extends Error {
  override name = "ReplicationStartError";
}

/** Refuses a start on a store that fails a conditional-write check the lease relies on. */
export async function checkConditionalWrites(bucket: Bucket, prefix: string): Promise<void> {
  const failed = (await checkStore(bucket.store, prefix, { conditionalOnly: true })).filter((r) => !r.ok);
  if (failed.length) {
    throw new ReplicationStartError(`S3 ${bucket.store.describe} fails a check replicated mode relies on: ${failed[0]!.name}: ${failed[0]!.detail} (klite doctor s3 runs every check)`);
  }
}

/** The cluster id the lease names (a fresh node joins that cluster), or null when there is no lease yet. */
export async function leaseClusterId(store: ObjectStore, prefix: string): Promise<string | null> {
  return (await new LeaseObject(store, leaseKey(prefix)).read())?.body.clusterId ?? null;
}

/** The cluster id of a fresh node (empty data dir, no --cluster-id, no lease yet): agreed through the bucket. */
export async function freshClusterId(store: ObjectStore, prefix: string, logger: Logger): Promise<string> {
  try {
    return await agreeClusterId(store, prefix, async () => (await discoverClusterId(store, prefix)) ?? newClusterId(), logger);
  } catch (e) {
    throw startError(store, e);
  }
}

export interface NodeDeps {
  config: Config;
  dataDir: string;
  clusterId: string;
  logger: Logger;
  bucket: Bucket;
  state: NodeState;
  observers: readonly RoleObserver[];
  /** This node as Kafka clients reach it. */
  kafka: BrokerNode;
}

const STANDBY_HOUSEKEEPING_MS = 1000;
const S3_SHUTDOWN_DEADLINE_MS = 30_000;

export class ReplicatedNode {
  readonly id: string;
  private readonly lease: LeaseObject;
  private readonly watcher: LeaseWatcher;
  private readonly root: string;
  private term: Term;
  private held: HeldLease | null = null;
  private sender: ReplicationSender | null = null;
  private receiver: ReplicationReceiver | null = null;
  private following: Promise<void> | null = null;
  private server: TCPSocketListener<unknown> | null = null;
  private pki: ReplicationPki | null = null;
  private advertised = "";
  private stopped = false;
  private busy = false;
  private restarting = false;
  private poke: () => void = () => {};
  private loopDone: Promise<void> = Promise.resolve();
  private housekeeping: ReturnType<typeof setInterval> | null = null;
  private lastWait = "";

  constructor(private readonly d: NodeDeps) {
    const c = d.config;
    this.id = c.replicationId ?? hostname();
    this.lease = new LeaseObject(d.bucket.store, leaseKey(c.s3!.prefix));
    this.watcher = new LeaseWatcher(c.leaseDurationMs);
    this.root = clusterRoot(c.s3!.prefix, d.clusterId);
    this.term = readTerm(d.dataDir);
    d.state.role = "standby";
    d.state.peerOf = () => {
      if (d.state.role === "primary") return this.sender?.peer ?? null;
      const b = this.watcher.current?.body;
      return b && b.holder !== this.id && b.kafka.nodeId >= 0 ? b.kafka : null;
    };
  }

  get role(): Role {
    return this.d.state.role;
  }

  /** Starts the role machine (returns at once; the node is a standby until it acquires the lease). */
  start(): void {
    this.housekeeping = setInterval(() => this.standbyHousekeeping(), STANDBY_HOUSEKEEPING_MS);
    this.housekeeping.unref?.();
    this.loopDone = this.loop();
  }

  status(): Record<string, unknown> {
    return {
      id: this.id,
      role: this.role,
      epoch: this.held?.epoch ?? this.watcher.current?.body.epoch ?? null,
      holder: this.watcher.current?.body.holder ?? null,
      standby: this.sender?.status() ?? null,
      following: this.receiver ? { connected: this.receiver.connected, inSync: this.receiver.live, primary: this.receiver.primary?.id ?? null } : null,
    };
  }

  // --- the standby's loop --------------------------------------------------------------------------------------

  private async loop(): Promise<void> {
    while (!this.stopped) {
      if (this.role === "standby" && !this.busy) {
        this.busy = true;
        try {
          await this.step();
        } catch (e) {
          this.d.logger.warn(`replication: ${(e as Error).message}`);
        } finally {
          this.busy = false;
        }
      }
      // Poll every retry interval, and once more right when the lease we watch would expire, so a crash costs at
      // most the lease duration after we first saw its last renewal (not up to another retry interval more).
      const untilExpiry = this.watcher.current ? this.d.config.leaseDurationMs - this.watcher.unchangedMs + 5 : Infinity;
      const wait = untilExpiry > 0 ? Math.max(5, Math.min(this.d.config.leaseRetryIntervalMs, untilExpiry)) : this.d.config.leaseRetryIntervalMs;
      await new Promise<void>((r) => {
        const t = setTimeout(r, wait);
        this.poke = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  }

  private async step(): Promise<void> {
    const obs = await this.lease.read();
    this.watcher.observe(obs);
    if (obs && obs.body.epoch > this.term.maxEpoch) {
      this.term.maxEpoch = obs.body.epoch;
      writeTerm(this.d.dataDir, this.term);
    }
    if (!obs) return this.acquire(null, "keep");
    const b = obs.body;
    if (b.clusterId !== this.d.clusterId) return this.waiting(`the lease ${this.lease.key} belongs to cluster ${b.clusterId}, this node to ${this.d.clusterId}: not taking part`);
    if (this.watcher.expired()) {
      const how = this.eligibility(b);
      this.d.logger.debug(`replication: lease of ${b.holder} (epoch ${b.epoch}) ${b.released ? "released" : "expired"}; this node ${how ? `may take over (${how})` : "may not take over"} (token ${JSON.stringify(this.term.token)}, in sync: ${JSON.stringify(b.inSync)})`);
      if (how) return this.acquire(obs, how);
      if (!this.receiver?.connected) {
        this.waiting(`the lease of ${b.holder} (epoch ${b.epoch}) ${b.released ? "was released" : "expired"}, but this node does not hold everything it acknowledged (not listed as in sync): waiting for ${b.holder} to come back`);
      }
    }
    if (!b.released && b.holder !== this.id && !this.following) this.follow(b);
  }

  private waiting(msg: string): void {
    if (msg !== this.lastWait) this.d.logger.warn(`replication: ${msg}`);
    this.lastWait = msg;
  }

  /** How this node may take over the lease: with its own data ("keep"), after restoring from S3, or not at all. */
  private eligibility(b: LeaseBody): "keep" | "restore" | null {
    if (b.holder === this.id && this.term.primaryEpoch === b.epoch) return "keep";
    const t = this.term.token;
    if (t && sameToken(t, this.term.synced) && t.epoch === b.epoch && b.inSync.some((s) => s.id === this.id && s.stream === t.stream)) return "keep";
    if (b.released && b.flushed) return "restore";
    return null;
  }

  /** Follows the primary named in the lease until the session ends; the loop starts another one. */
  private follow(b: LeaseBody): void {
    const [host, port] = splitAddr(b.addr);
    const run = async () => {
      const pki = this.pki ?? (await loadPki(this.d.bucket.store, this.root));
      if (!pki) throw new Error(`no replication certificates in ${this.root}repl/ yet`);
      this.pki = pki;
      this.receiver = new ReplicationReceiver(
        {
          rooms: () => this.d.state.rooms,
          restart: (snapshot, full, token) => this.restartRooms(snapshot, full, token),
          epochSeen: () => this.term.maxEpoch,
          primaryLeaving: () => this.poke(),
          caughtUp: (token) => {
            if (sameToken(this.term.synced, token)) return;
            this.term.synced = token;
            writeTerm(this.d.dataDir, this.term);
          },
        },
        { id: this.id, clusterId: this.d.clusterId, kafka: this.d.kafka, logger: this.d.logger, silenceMs: Math.max(3000, 3 * 1000) },
      );
      const why = await this.receiver.run(host, port, pki, this.term.token);
      if (!this.stopped && this.role === "standby") this.d.logger.info(`replication: session with ${b.holder} ended: ${why}`);
    };
    this.following = run()
      .catch((e: Error) => this.waiting(`cannot follow ${b.holder} at ${b.addr}: ${e.message}`))
      .finally(() => {
        this.following = null;
      });
  }

  /**
   * A session starts: recover again from the primary's metadata (and for a full one, without the WAL). An incremental
   * session keeps everything this node held; a full one starts from nothing, so this node counts as synced with that
   * stream only once the backfill is done (LIVE, caughtUp): until then a lease listing this node with that token
   * (from before) must not let it take over with a WAL that holds only part of what was acknowledged.
   */
  private async restartRooms(snapshot: Uint8Array, full: boolean, token: { epoch: number; stream: string }): Promise<void> {
    const { config, dataDir, bucket, clusterId, logger, state } = this.d;
    this.restarting = true;
    try {
      this.term.token = null;
      if (full) this.term.synced = null;
      writeTerm(dataDir, this.term);
      await closeRooms(state.rooms);
      if (full) rmSync(walDir(dataDir), { recursive: true, force: true });
      writeFileDurably(metaPath(dataDir), snapshot);
      try {
        // Never --accept-data-loss here: the primary holds whatever this node's WAL lost.
        state.rooms = await recover({ ...config, acceptDataLoss: false }, dataDir, bucket, clusterId, logger);
      } catch (e) {
        if (full || !(e instanceof WalDataLossError)) throw e;
        // An incremental session over a WAL damaged since this node started (where S3 does not hold the records):
        // as at start (damaged-wal.ts), the WAL goes aside and this node may not take over with it; the session ends
        // and the next one, with no token, is a full copy from the primary.
        const aside = setWalAside(dataDir);
        this.term.primaryEpoch = null;
        this.term.synced = null;
        writeTerm(dataDir, this.term);
        state.rooms = await recover(config, dataDir, bucket, clusterId, logger);
        logger.error(`${e.found} The primary holds them: this node's WAL was moved to ${aside} (delete it once this node is in sync) and it asks the primary for a full copy; it will not take over the lease until that is done.`);
        throw new Error("this node's WAL is damaged (moved aside): ending the session for a full one", { cause: e });
      }
      this.term.token = token;
      writeTerm(dataDir, this.term);
    } finally {
      this.restarting = false;
    }
  }

  /** A standby lets go of WAL segments whose data the primary has put in S3. */
  private standbyHousekeeping(): void {
    if (this.role !== "standby" || this.restarting || this.stopped) return;
    const log = this.d.state.rooms.log;
    log.followFlushes();
    log.releaseFlushed().catch((e: Error) => this.d.logger.debug(`replication: releasing flushed WAL segments on the standby failed: ${e.message}`));
  }

  // --- promotion and demotion ----------------------------------------------------------------------------------

  private async listen(): Promise<void> {
    if (this.server) return;
    const c = this.d.config;
    this.pki = await loadOrCreatePki(this.d.bucket.store, this.root, this.sans(), this.d.logger);
    const addr = c.replicationAddr!;
    this.server = listenLinks(addr.host, addr.port, this.pki, {
      opened: (l) => this.accept(l),
      frame: (l, f) => this.sender?.frame(l, f),
      closed: (l, why) => this.sender?.closed(l, why),
    }, this.d.logger) as TCPSocketListener<unknown>;
    const wildcard = addr.host === "" || addr.host === "0.0.0.0" || addr.host === "::";
    const host = c.replicationAdvertisedAddr?.host ?? (wildcard ? "localhost" : addr.host);
    this.advertised = `${host}:${c.replicationAdvertisedAddr?.port ?? this.server.port}`;
  }

  private sans(): string[] {
    const c = this.d.config;
    const own = c.replicationAdvertisedAddr?.host ?? c.replicationAddr!.host;
    return [...c.replicationTlsSan, ...(own ? [own] : []), "localhost", "127.0.0.1"];
  }

  private accept(link: Link): void {
    if (this.role === "primary" && this.sender) return this.sender.opened(link);
    link.send(FrameType.REFUSE, this.term.maxEpoch, 0, json({ reason: `${this.id} is not the primary` }));
    setTimeout(() => link.close("refused: not the primary"), 100);
  }

  private async acquire(obs: Observed | null, how: "keep" | "restore"): Promise<void> {
    await this.listen();
    const epoch = Math.max(obs?.body.epoch ?? 0, this.term.maxEpoch) + 1;
    const body: LeaseBody = { clusterId: this.d.clusterId, holder: this.id, epoch, addr: this.advertised, kafka: this.d.kafka, inSync: [], released: false, flushed: false, renewedAt: "" };
    const started = monotonic.now();
    let got: Observed;
    try {
      got = obs ? await this.lease.replace(obs, body) : await this.lease.create(body);
    } catch (e) {
      if (e instanceof LeaseTaken) return; // another node was faster: follow it next time round
      throw e;
    }
    await this.promote(got, started, how, obs);
  }

  private async promote(got: Observed, started: number, how: "keep" | "restore", from: Observed | null): Promise<void> {
    const { config, dataDir, logger, state, observers } = this.d;
    const t0 = performance.now();
    const epoch = got.body.epoch;
    this.term.maxEpoch = epoch;
    // Fence the old term: no frame of it is applied from here on.
    await this.receiver?.close(`this node took over the lease (epoch ${epoch})`);
    await this.following;
    this.receiver = null;
    await state.rooms.wal.drain();
    await state.rooms.meta.drain();
    if (how === "restore") await this.restoreFromBucket();
    this.term.primaryEpoch = epoch;
    this.term.token = null;
    this.term.synced = null;
    writeTerm(dataDir, this.term);
    this.held = new HeldLease(this.lease, got, started, { durationMs: config.leaseDurationMs, renewIntervalMs: config.leaseRenewIntervalMs }, logger, (why) => {
      this.demote(why).catch((e: Error) => logger.error(`replication: stepping down did not finish cleanly (produce stays refused): ${e.message}`));
    });
    this.sender = new ReplicationSender(state.rooms.wal, state.rooms.meta, this.held, {
      clusterId: this.d.clusterId,
      id: this.id,
      kafka: this.d.kafka,
      ackTimeoutMs: config.replicationAckTimeoutMs,
      logger,
      damagedEntry: (u, segment, batchPos) => state.rooms.log.damagedEntry(u, segment, batchPos),
    });
    this.sender.start();
    state.primary = becomePrimary(state.rooms, config, logger);
    state.role = "primary";
    this.lastWait = "";
    logger.info(
      `replication: ${this.id} is primary (epoch ${epoch}${from ? `, took over from ${from.body.holder}` : ", new lease"}; replication on ${this.advertised}) in ${Math.round(performance.now() - t0)} ms`,
    );
    void notifyRole(observers, "promoted", logger);
  }

  /** Takes over a lease released after a full flush without holding the data: the bucket has everything. */
  private async restoreFromBucket(): Promise<void> {
    const { config, dataDir, bucket, clusterId, logger, state } = this.d;
    await closeRooms(state.rooms);
    rmSync(walDir(dataDir), { recursive: true, force: true });
    rmSync(metaPath(dataDir), { force: true });
    const got = await downloadMetadata(bucket.store, this.root, metaPath(dataDir));
    bucket.restored = got !== null;
    state.rooms = await recover(config, dataDir, bucket, clusterId, logger);
    logger.info(`replication: restored from S3 before taking over (metadata log of ${got?.bytes ?? 0} bytes)`);
  }

  private async demote(why: string): Promise<void> {
    const { logger, state, observers } = this.d;
    if (state.role !== "primary") return;
    state.role = "standby"; // produce is refused from this moment on
    state.rooms.groups.releaseWaiters();
    logger.error(`replication: lost the lease (${why}); stepping down to standby, refusing produce`);
    await this.sender?.stop(false);
    this.sender = null;
    await state.primary?.stepDown({ flushToS3: false, deadline: Date.now() });
    state.primary = null;
    this.held?.stop();
    this.held = null;
    void notifyRole(observers, "demoted", logger);
    this.poke();
  }

  // --- stop ----------------------------------------------------------------------------------------------------

  /** Graceful stop (the listener has stopped and observers were told): hand over, then close the rooms. */
  async stop(): Promise<void> {
    const { state, logger } = this.d;
    this.stopped = true;
    this.poke();
    if (this.housekeeping) clearInterval(this.housekeeping);
    if (state.role === "primary" && this.held && this.sender) {
      const t0 = performance.now();
      await state.rooms.wal.drain();
      await state.rooms.meta.drain();
      const inSync = this.sender.status().inSync;
      // With a standby in sync it has everything: hand over at once. Without one, S3 must have everything first.
      const inBucket = (await state.primary?.stepDown({ flushToS3: !inSync, deadline: Date.now() + S3_SHUTDOWN_DEADLINE_MS })) ?? false;
      await state.rooms.meta.drain();
      // "flushed" lets any node take over from the bucket alone: only when the bucket really holds everything.
      const flushed = !inSync && inBucket;
      if (!inSync && !inBucket) logger.error("replication: no standby in sync and S3 does not hold everything (see above): the lease is released without letting a standby take over from the bucket; this node's data is needed (restart it)");
      try {
        await this.held.release((b) => ({ ...b, flushed, inSync: inSync ? b.inSync : [] }));
        logger.info(`replication: released the lease${inSync ? " to the standby in sync" : flushed ? " after flushing everything to S3" : ""} (${Math.round(performance.now() - t0)} ms after the requests were answered)`);
      } catch (e) {
        logger.warn(`replication: could not release the lease (it expires on its own): ${(e as Error).message}`);
      }
      // Only now GOODBYE: the standby reads the lease as soon as it hears it, and must find it released.
      await this.sender.stop(true);
      state.primary = null;
    } else {
      await this.receiver?.close("shutting down");
      await this.following;
    }
    await this.loopDone;
    this.server?.stop(true);
  }
}

function sameToken(a: { epoch: number; stream: string } | null, b: { epoch: number; stream: string } | null): boolean {
  return a !== null && b !== null && a.epoch === b.epoch && a.stream === b.stream;
}

function splitAddr(addr: string): [string, number] {
  const i = addr.lastIndexOf(":");
  return [addr.slice(0, i).replace(/^\[|\]$/g, ""), Number(addr.slice(i + 1))];
}
