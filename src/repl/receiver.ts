// The standby's side of the replication stream (frames.ts): connect to the primary named in the lease, say what this
// node holds (HELLO: its session token and last WAL sequence), then apply what comes, in order. SNAPSHOT makes the
// node recover again from the primary's metadata (its WAL kept for an "incremental" session, dropped for a "full"
// one); META and WAL frames are written and fsync'd through the rooms (metadata log, WAL with the primary's
// sequence numbers), and each frame is acknowledged once it and every frame before it is durable here. Frames are
// handled one at a time in arrival order, but the next frame's write starts while the previous one's fsync runs.
//
// A frame from an epoch older than the newest lease epoch this node has seen is refused (a deposed primary), and so
// is anything malformed: the link closes, and the node connects again (the primary backfills what was missed).
import type { Logger } from "../logger.ts";
import { decodeMetaRecords } from "../meta/metadata-log.ts";
import type { Rooms } from "../broker/wiring-rooms.ts";
import type { BrokerNode } from "../handlers/handler.ts";
import { FrameType, json, unjson, type Frame } from "./frames.ts";
import { connectLink, type Link } from "./link.ts";
import type { ReplicationPki } from "./pki.ts";
import type { Hello, Welcome } from "./sender.ts";

export interface StandbyHost {
  rooms(): Rooms;
  /** Recover again from the primary's metadata snapshot (dropping the WAL for a full session); then the token is this node's. */
  restart(snapshot: Uint8Array, full: boolean, token: { epoch: number; stream: string }): Promise<void>;
  /** The newest lease epoch this node has seen: frames from older epochs are refused. */
  epochSeen(): number;
  /** The primary is stopping gracefully: read the lease now. */
  primaryLeaving(): void;
  /** LIVE was applied: this node holds everything the primary wrote before it (its token may now be its own). */
  caughtUp(token: { epoch: number; stream: string }): void;
}

export interface ReceiverOptions {
  id: string;
  clusterId: string;
  kafka: BrokerNode;
  logger: Logger;
  /** No frame for this long (the primary pings every second) and the link is given up. */
  silenceMs: number;
}

export class ReplicationReceiver {
  private link: Link | null = null;
  private work: Promise<void> = Promise.resolve();
  private acks: Promise<void> = Promise.resolve();
  private lastMeta: Promise<void> = Promise.resolve();
  private welcome: Welcome | null = null;
  private lastFrameAt = performance.now();
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private ended: Promise<string> | null = null;
  /** Set once the primary's LIVE frame was applied: this node is in sync (the primary lists it in the lease). */
  live = false;
  primary: { id: string; kafka: BrokerNode } | null = null;

  constructor(
    private readonly host: StandbyHost,
    private readonly opts: ReceiverOptions,
  ) {}

  get connected(): boolean {
    return this.link !== null && !this.link.closed;
  }

  /** Connects and runs one session; resolves with why it ended. Rejects when the connection cannot be made. */
  async run(host: string, port: number, pki: ReplicationPki, token: { epoch: number; stream: string } | null): Promise<string> {
    let end!: (why: string) => void;
    this.ended = new Promise<string>((r) => (end = r));
    this.live = false;
    this.welcome = null;
    try {
      this.link = await connectLink(host, port, pki, { frame: (l, f) => this.frame(l, f), closed: (_l, why) => end(why) }, this.opts.logger);
    } catch (e) {
      end(`connection failed: ${(e as Error).message}`);
      throw e;
    }
    this.lastFrameAt = performance.now();
    this.watchdog = setInterval(() => {
      if (performance.now() - this.lastFrameAt > this.opts.silenceMs) this.link?.close(`no frame from the primary for ${this.opts.silenceMs} ms`);
    }, 500);
    this.watchdog.unref?.();
    const lastSeq = this.host.rooms().wal.nextSequence - 1;
    const hello: Hello = { id: this.opts.id, clusterId: this.opts.clusterId, token, lastSeq, kafka: this.opts.kafka };
    this.link.send(FrameType.HELLO, token?.epoch ?? 0, 0, json(hello));
    const why = await this.ended;
    clearInterval(this.watchdog);
    // Let what was received finish (or fail) before the rooms are used for anything else.
    await this.work.catch(() => {});
    await this.acks.catch(() => {});
    return why;
  }

  /** Ends the session (promotion, shutdown); resolves once in-flight writes settled. */
  async close(why: string): Promise<void> {
    this.link?.close(why);
    if (this.ended) await this.ended;
    await this.work.catch(() => {});
    await this.acks.catch(() => {});
  }

  private frame(link: Link, f: Frame): void {
    this.lastFrameAt = performance.now();
    if (f.epoch < this.host.epochSeen() && f.type !== FrameType.REFUSE) {
      link.close(`frame from epoch ${f.epoch}, older than the lease's ${this.host.epochSeen()}: the sender is no longer primary`);
      return;
    }
    if (f.type === FrameType.REFUSE) {
      this.opts.logger.warn(`replication: the primary refused this standby: ${unjson<{ reason: string }>(f.payload).reason}`);
      link.close("refused");
      return;
    }
    // In arrival order; each frame's write starts once the previous frame's has (SNAPSHOT: once recovery is done).
    this.work = this.work.then(async () => {
      if (link.closed) return;
      const { durable } = await this.apply(f);
      const prev = this.acks;
      this.acks = Promise.all([prev, durable]).then(() => {
        if (!link.closed) link.send(FrameType.ACK, f.epoch, f.seq);
      });
      this.acks.catch((e: Error) => link.close(`writing what the primary sent failed: ${e.message}`));
    }).catch((e: Error) => link.close(`applying a ${f.type} frame failed: ${e.message}`));
  }

  /** Starts applying one frame; resolves (once started) with a promise of its durability (boxed: not flattened). */
  private async apply(f: Frame): Promise<{ durable: Promise<void> }> {
    const rooms = this.host.rooms();
    switch (f.type) {
      case FrameType.WELCOME: {
        const w = unjson<Welcome>(f.payload);
        this.welcome = w;
        this.primary = w.primary;
        this.opts.logger.info(`replication: following ${w.primary.id} (epoch ${w.epoch}, ${w.mode} session from WAL sequence ${w.fromSeq})`);
        return { durable: Promise.resolve() };
      }
      case FrameType.SNAPSHOT: {
        const w = this.welcome;
        if (!w) throw new Error("SNAPSHOT before WELCOME");
        await this.host.restart(f.payload, w.mode === "full", { epoch: w.epoch, stream: w.stream });
        return { durable: Promise.resolve() };
      }
      case FrameType.META: {
        const { records, validEnd } = decodeMetaRecords(f.payload);
        if (validEnd !== f.payload.length) throw new Error(`metadata records from the primary do not parse at byte ${validEnd}`);
        this.lastMeta = rooms.meta.appendReplica(records);
        return { durable: this.lastMeta };
      }
      case FrameType.WAL:
        // Metadata the entries depend on (a topic created just before) applies once durable: wait for it.
        await this.lastMeta;
        return { durable: rooms.log.appendReplica(f.payload) };
      case FrameType.LIVE:
        if (this.welcome) this.host.caughtUp({ epoch: this.welcome.epoch, stream: this.welcome.stream });
        this.live = true;
        this.opts.logger.info(`replication: caught up with ${this.welcome?.primary.id}; in sync`);
        return { durable: Promise.resolve() };
      case FrameType.GOODBYE:
        this.host.primaryLeaving();
        return { durable: Promise.resolve() };
      default:
        return { durable: Promise.resolve() }; // PING
    }
  }
}
