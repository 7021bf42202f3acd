// The primary's side of the replication stream: one standby at a time connects (mutual TLS, link.ts), says what it
// holds (HELLO), and gets the metadata snapshot, then every WAL entry from where it stands (backfill: read back from
// the WAL files), then the live stream: each group-committed WAL group and each metadata-log write as it is written
// (frames.ts). LIVE is sent once the backfill was read to the end and the standby has acknowledged all but LIVE_LAG of
// it (so the acknowledgements that wait for it from then on do not wait for the tail of a long backfill). It is "in
// sync" once it has acknowledged the LIVE frame: from then on every acknowledgement waits for
// its fsync too (the WAL's and metadata log's replicator ports; run in parallel with the local fsync), and the lease
// lists it, so it may take over.
//
// Sessions and what the standby may keep: a stream id is drawn for every term (and again after a local write
// failure). A standby whose HELLO names this term's epoch and stream id holds a prefix of this WAL: it keeps its
// WAL and is streamed from its last sequence on ("incremental"); any other standby drops everything ("full") and is
// streamed from the oldest entry on disk. Entries the WAL released meanwhile are in S3, and the snapshot's manifest
// says so ("read it from S3").
//
// Detaching: when an in-sync standby goes (connection lost, or no ACK within --replication-ack-timeout), the lease is
// rewritten without it BEFORE anything is acknowledged without it; until that write succeeds new groups wait, and the
// groups that were waiting for the standby fail with ReplicationError (KAFKA_STORAGE_ERROR to producers; a retry of
// the same idempotent batch then succeeds). If the lease cannot be written, nothing is acknowledged at all, and the
// lease is eventually lost (demotion).
//
// What is acknowledged when (DESIGN.md §5: a standby that may take over holds every acknowledged record, and two
// primaries never both acknowledge):
//   - from the LIVE frame on (live-pending and in-sync), every write waits for the standby's ACK: the lease may list
//     it as soon as LIVE is acknowledged, so nothing written after LIVE may be acknowledged without it;
//   - before that (no standby, or one catching up) a write is acknowledged on the local fsync alone, but only while
//     the lease lists no standby as in sync (else the lease is rewritten first, as when detaching);
//   - nothing at all once the lease is no longer valid (judged at the standby's ACK; a write started then fails as a
//     write, so it is not kept or read here either), and nothing
//     once this sender stopped (demotion, or after the lease was released): it stays installed as the WAL's and the
//     metadata log's replicator and fails every later write's acknowledgement with ReplicationError, so a group
//     appended before the demotion and written after it is never acknowledged on the local fsync alone.
import { randomBytes } from "node:crypto";
import type { Logger } from "../logger.ts";
import type { HeldLease } from "../lease/lease.ts";
import { encodeMetaRecord, type MetadataLog, type RecordReplicator } from "../meta/metadata-log.ts";
import { ReplicationError, WalError, type GroupReplicator, type Wal, type WalCursor } from "../wal/wal.ts";
import type { Partition } from "../log/partition.ts";
import { ENTRY_HEADER, parseEntry, readUnverified, writeEntry } from "../wal/entry.ts";
import { FrameType, json, unjson, type Frame } from "./frames.ts";
import type { Link } from "./link.ts";
import type { BrokerNode } from "../handlers/handler.ts";

export interface Hello {
  id: string;
  clusterId: string;
  token: { epoch: number; stream: string } | null;
  lastSeq: number;
  kafka: BrokerNode;
}

export interface Welcome {
  mode: "incremental" | "full";
  epoch: number;
  stream: string;
  fromSeq: number;
  primary: { id: string; kafka: BrokerNode };
}

/** What the node knows of a damaged WAL entry the backfill met (Log.damagedEntry). */
export type DamagedEntryLookup = (u: { topicId: string; partition: number; baseOffset: number; lastOffset: number }, segment: number, batchPos: number) => "in-s3" | { topicId: Uint8Array; batch: Uint8Array } | null;

export interface SenderOptions {
  /** A damaged entry in this node's WAL: S3 holds it, or an intact copy is in memory, or neither (null). */
  damagedEntry: DamagedEntryLookup;
  clusterId: string;
  id: string;
  kafka: BrokerNode;
  ackTimeoutMs: number;
  logger: Logger;
}

const BACKFILL_CHUNK = 1 << 20;
const BACKFILL_QUEUE = 8 << 20;
/** LIVE is sent once the standby has acknowledged all but this much of the backfill. */
const LIVE_LAG = 1 << 20;
const PING_MS = 1000;
/** How often the backfill looks again at a damaged entry nothing could replace yet (an S3 flush may take it). */
const DAMAGE_RETRY_MS = 1000;

type State = "hello" | "catching-up" | "live-pending" | "in-sync";

interface Waiter {
  seq: number;
  resolve(): void;
  reject(e: Error): void;
}

class Session {
  state: State = "hello";
  seq = 0;
  acked = 0;
  liveSeq = 0;
  /** The lease lists this standby as in sync (written after it became in sync): only now may it take over. */
  listed = false;
  hello: Hello | null = null;
  cursor: WalCursor | null = null;
  readonly waiters: Waiter[] = [];
  /** Send times of frames not yet acknowledged: seq → monotonic ms. */
  readonly unacked = new Map<number, number>();
  lastSent = performance.now();
  /** Backfill frames the standby has not acknowledged yet, and their bytes. */
  readonly backfilled: { seq: number; bytes: number }[] = [];
  backfillBytes = 0;
  constructor(readonly link: Link) {}

  /** Bytes of backfill sent and not yet acknowledged. */
  backfillLag(): number {
    while (this.backfilled.length && this.backfilled[0]!.seq <= this.acked) this.backfillBytes -= this.backfilled.shift()!.bytes;
    return this.backfillBytes;
  }
}

export class ReplicationSender implements GroupReplicator, RecordReplicator {
  private session: Session | null = null;
  private stream = randomBytes(8).toString("hex");
  /** While the lease is being rewritten without a detached standby, new writes wait for this. */
  private shrinking: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;
  /** Damaged WAL entries already reported, with what was done: said once, not at every session or retry. */
  private readonly damageReported = new Set<string>();
  /** The standby as clients should know it (for Metadata), while one is attached. */
  peer: BrokerNode | null = null;

  constructor(
    private readonly wal: Wal<Partition>,
    private readonly meta: MetadataLog,
    private readonly lease: HeldLease,
    private readonly opts: SenderOptions,
  ) {}

  get epoch(): number {
    return this.lease.epoch;
  }

  /** The attached standby's state, for /replication and tests: inSync once the lease lists it (it may take over). */
  status(): { standby: string | null; state: string; inSync: boolean; acked: number } {
    const s = this.session;
    return { standby: s?.hello?.id ?? null, state: s?.state ?? "none", inSync: s?.state === "in-sync" && s.listed, acked: s?.acked ?? 0 };
  }

  /** Hooks into the WAL and the metadata log; standbys are handed over by the node's listener (opened/frame/closed). */
  start(): void {
    this.wal.setReplicator(this);
    this.meta.setReplicator(this);
    this.timer = setInterval(() => this.tick(), Math.min(PING_MS, this.opts.ackTimeoutMs / 4));
    this.timer.unref?.();
  }

  /** Stops serving standbys (demotion or shutdown): after GOODBYE when graceful, the link closes. */
  async stop(graceful: boolean): Promise<void> {
    // Stays the replicator (written() refuses from now on): the next primary takes over with what the standby holds.
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const s = this.session;
    if (s && graceful) {
      s.link.send(FrameType.GOODBYE, this.epoch, ++s.seq);
      await Promise.race([s.link.drained(), Bun.sleep(1000)]);
    }
    const waiting = s?.waiters.length ?? 0;
    this.failWaiters(new ReplicationError(graceful ? "this node stopped being primary" : "this node lost the lease and stepped down"));
    if (waiting > 0) this.opts.logger.warn(`replication: ${waiting} write(s) waiting for the standby's ACK were not acknowledged: this node stopped being primary`);
    this.session = null; // first: closing the link must not detach (and rewrite the lease) on the way out
    this.peer = null;
    s?.link.close("the primary stepped down");
  }

  // --- the replicator ports ----------------------------------------------------------------------------------

  written(bytes: Uint8Array, firstSeq?: number): Promise<void> | null {
    if (this.stopped) return refused(new ReplicationError("this node is no longer primary"));
    // Failed as a write (not ReplicationError): the group is not kept, so no consumer reads it from this node either
    // (the standby does not get it, and may be taking over now).
    if (!this.lease.valid()) return refused(new WalError("the lease was not renewed in time; this node is stepping down"));
    const s = this.session;
    const isWal = firstSeq !== undefined;
    let ack: Promise<void> | null = null;
    // While catching up, WAL groups are read back from the files by the backfill (they are written there already);
    // metadata goes out at once (the snapshot covered everything before the session). Sent even while the lease is
    // being rewritten, so a standby that came back meanwhile misses nothing.
    if (s && s.state !== "hello" && !(isWal && s.state === "catching-up")) {
      const seq = this.send(s, isWal ? FrameType.WAL : FrameType.META, bytes);
      if (s.state === "live-pending" || s.state === "in-sync") ack = handled(new Promise<void>((resolve, reject) => s.waiters.push({ seq, resolve, reject })));
    }
    // Without the standby's ACK, acknowledged on the local fsync alone: only once no standby the lease lists could
    // take over without this write.
    const shrink = this.shrinking ?? (ack === null && this.lease.body.inSync.length > 0 ? this.startShrink() : null);
    if (shrink && ack) return handled(Promise.all([shrink, ack]).then(() => {}));
    return shrink ?? ack;
  }

  failed(): void {
    // This node's copy lost a write the standby may hold: the standby starts over ("full") with a new stream.
    this.stream = randomBytes(8).toString("hex");
    const s = this.session;
    if (s) this.detach(s, "a local write failed");
  }

  // --- sessions ------------------------------------------------------------------------------------------------

  private send(s: Session, type: number, payload?: Uint8Array): number {
    const seq = ++s.seq;
    s.link.send(type, this.epoch, seq, payload);
    s.unacked.set(seq, performance.now());
    s.lastSent = performance.now();
    return seq;
  }

  opened(link: Link): void {
    if (this.stopped) return link.close("stopping");
    if (this.session) {
      // Checked again at HELLO (the attached one may be gone by then); refuse now so the third node hears why.
      link.send(FrameType.REFUSE, this.epoch, 0, json({ reason: `another standby (${this.session.hello?.id ?? "connecting"}) is attached` }));
      setTimeout(() => link.close("refused: another standby is attached"), 100);
      return;
    }
    this.session = new Session(link);
  }

  frame(link: Link, f: Frame): void {
    const s = this.session;
    if (!s || s.link !== link) return;
    if (f.type === FrameType.HELLO && s.state === "hello") return this.welcome(s, unjson<Hello>(f.payload));
    if (f.type === FrameType.ACK) return this.acked(s, f.seq);
    this.detach(s, `unexpected frame type ${f.type}`);
  }

  private welcome(s: Session, hello: Hello): void {
    const log = this.opts.logger;
    if (hello.clusterId !== this.opts.clusterId) {
      s.link.send(FrameType.REFUSE, this.epoch, 0, json({ reason: `cluster id ${hello.clusterId} is not this cluster's (${this.opts.clusterId})` }));
      return this.detach(s, `standby ${hello.id} belongs to cluster ${hello.clusterId}`);
    }
    s.hello = hello;
    const incremental = hello.token?.epoch === this.epoch && hello.token.stream === this.stream;
    const oldest = this.wal.oldestSequence ?? this.wal.nextSequence;
    const fromSeq = incremental ? Math.max(hello.lastSeq + 1, oldest) : oldest;
    const welcome: Welcome = { mode: incremental ? "incremental" : "full", epoch: this.epoch, stream: this.stream, fromSeq, primary: { id: this.opts.id, kafka: this.opts.kafka } };
    // One synchronous step: snapshot, in-flight records and the backfill's start agree with each other.
    this.send(s, FrameType.WELCOME, json(welcome));
    const image = this.meta.image().buf;
    const inFlight = this.meta.inFlight().map((r) => encodeMetaRecord(r));
    this.send(s, FrameType.SNAPSHOT, image);
    if (inFlight.length) this.send(s, FrameType.META, Buffer.concat(inFlight));
    s.cursor = this.wal.cursorAt(fromSeq);
    s.state = "catching-up";
    this.peer = hello.kafka;
    log.info(`replication: standby ${hello.id} connected from ${s.link.remote} (${welcome.mode}: holds up to WAL sequence ${hello.lastSeq}, streaming from ${fromSeq}, metadata snapshot of ${image.length} bytes)`);
    void this.backfill(s);
  }

  private async backfill(s: Session): Promise<void> {
    let bytes = 0;
    const t0 = performance.now();
    while (this.session === s && !s.link.closed) {
      // Synchronous from the read to the switch: a group written after the last read is streamed live.
      const raw = this.wal.readRaw(s.cursor!, BACKFILL_CHUNK);
      if (raw === null) return this.detach(s, "the WAL segment being streamed was deleted; starting over");
      if (raw.length === 0 && s.backfillLag() > LIVE_LAG) {
        // Everything was read, but the standby is still applying much of it: LIVE only once it is close, so the
        // writes that wait for its ACK from LIVE on wait about one round trip, not for the tail of the backfill.
        while (this.session === s && !s.link.closed && s.backfillLag() > LIVE_LAG) await Bun.sleep(5);
        continue;
      }
      if (raw.length === 0) {
        s.liveSeq = this.send(s, FrameType.LIVE);
        s.state = "live-pending";
        this.opts.logger.info(`replication: standby ${s.hello!.id} caught up (${bytes} bytes of WAL in ${Math.round(performance.now() - t0)} ms)`);
        return;
      }
      const bad = firstDamaged(raw);
      if (bad >= 0) {
        // Send what is intact, then the damaged entry is replaced, skipped or waited on (never sent as it is: the
        // standby would refuse it, reconnect and be sent it again, forever).
        const at = { segment: s.cursor!.segment, pos: s.cursor!.pos - raw.length + bad };
        if (bad > 0) this.sendBackfill(s, raw.subarray(0, bad));
        bytes += bad;
        s.cursor = { ...at };
        const replaced = this.damaged(s, at, raw.subarray(bad));
        if (replaced === null) {
          await Bun.sleep(DAMAGE_RETRY_MS);
          continue;
        }
        if (replaced.length) this.sendBackfill(s, replaced);
        bytes += replaced.length;
        continue;
      }
      this.sendBackfill(s, raw);
      bytes += raw.length;
      if (s.link.queuedBytes > BACKFILL_QUEUE) await s.link.drained();
      else await new Promise((r) => setImmediate(r)); // let produce and everything else through
    }
  }

  private sendBackfill(s: Session, raw: Uint8Array): void {
    s.backfilled.push({ seq: this.send(s, FrameType.WAL, raw), bytes: raw.length });
    s.backfillBytes += raw.length;
  }

  /**
   * A damaged entry at `at` in this node's WAL (`rest`: its bytes and what follows): what to stream instead, with the
   * cursor moved past it: nothing when S3 holds its records (the standby reads them from there, as the manifest in
   * its snapshot and metadata says), the entry rebuilt from this node's intact copy in memory; or null when neither
   * is possible yet (the cursor stays; looked at again in a second, as an S3 flush may take the records from memory).
   * Each damaged entry is logged once.
   */
  private damaged(s: Session, at: { segment: number; pos: number }, rest: Uint8Array): Uint8Array | null {
    const dv = new DataView(rest.buffer, rest.byteOffset, rest.byteLength);
    const len = rest.length >= 4 ? dv.getUint32(0) : 0;
    const u = len > 0 && 4 + len <= rest.length ? readUnverified(rest, dv, 0, 4 + len)?.[0] ?? null : null;
    const where = `WAL segment ${at.segment} at byte ${at.pos}`;
    const what = u ? `${where} (topic id ${u.topicId} partition ${u.partition} offsets ${u.baseOffset}-${u.lastOffset}, as its unverified header says)` : `${where} (its length is damaged, so which records it held is unknown)`;
    const found = u ? this.opts.damagedEntry(u, at.segment, at.pos + ENTRY_HEADER) : null;
    // Once per entry and outcome: one that could not be replaced and later is (an S3 flush took it) is said again.
    const once = (outcome: string, level: "warn" | "error", msg: string) => {
      const key = `${at.segment}:${at.pos}:${outcome}`;
      if (this.damageReported.has(key)) return;
      this.damageReported.add(key);
      this.opts.logger[level](`replication: ${msg}`);
    };
    if (found === null || !u) {
      once("lost", "error", `the entry at ${what} is damaged on this node's disk and neither S3 nor this node's memory holds an intact copy: standby ${s.hello!.id} cannot be brought in sync past it (it stays connected and not in sync; acknowledgements go on without it; looked at again every second in case an S3 flush takes the records). Said once.`);
      return null;
    }
    s.cursor = { segment: at.segment, pos: at.pos + 4 + len };
    if (found === "in-s3") {
      once("in-s3", "warn", `the entry at ${what} is damaged on this node's disk; S3 holds those records, so standby ${s.hello!.id} reads them from there (the entry is not streamed)`);
      return new Uint8Array(0);
    }
    const seq = dv.getUint32(8) * 4294967296 + dv.getUint32(12);
    if (seq < 1 || seq >= this.wal.nextSequence) {
      once("bad-seq", "error", `the entry at ${what} is damaged on this node's disk and its sequence number (${seq}) is too: standby ${s.hello!.id} cannot be brought in sync past it (it stays connected and not in sync; acknowledgements go on without it). Said once.`);
      s.cursor = { ...at };
      return null;
    }
    const out = new Uint8Array(ENTRY_HEADER + found.batch.length);
    writeEntry(out, new DataView(out.buffer), 0, seq, found.topicId, u.partition, u.baseOffset, found.batch, 0);
    once("memory", "warn", `the entry at ${what} is damaged on this node's disk; streamed to standby ${s.hello!.id} from this node's intact copy in memory`);
    return out;
  }

  private acked(s: Session, seq: number): void {
    if (seq <= s.acked) return;
    s.acked = seq;
    for (const k of s.unacked.keys()) {
      if (k > seq) break;
      s.unacked.delete(k);
    }
    // Judged now, at the acknowledgement: after the lease's validity a standby may be taking over.
    const late = this.lease.valid() ? null : new ReplicationError("the standby's ACK came after the lease's validity ended");
    while (s.waiters.length && s.waiters[0]!.seq <= seq) {
      const w = s.waiters.shift()!;
      if (late) w.reject(late);
      else w.resolve();
    }
    if (s.state === "live-pending" && seq >= s.liveSeq) {
      s.state = "in-sync";
      const id = s.hello!.id;
      const stream = this.stream;
      this.opts.logger.info(`replication: standby ${id} is in sync; acknowledgements now wait for it`);
      this.lease.update((b) => ({ ...b, inSync: [{ id, stream }] })).then(
        () => {
          if (this.session === s) s.listed = true;
        },
        (e: Error) => this.opts.logger.warn(`replication: could not list standby ${id} as in sync in the lease (it cannot take over until then): ${e.message}`),
      );
    }
  }

  private tick(): void {
    const s = this.session;
    if (!s || s.state === "hello") return;
    const now = performance.now();
    const oldest = s.unacked.values().next().value as number | undefined;
    if (oldest !== undefined && now - oldest > this.opts.ackTimeoutMs) {
      return this.detach(s, `no ACK within --replication-ack-timeout (${this.opts.ackTimeoutMs} ms)`);
    }
    if (now - s.lastSent >= PING_MS) this.send(s, FrameType.PING);
  }

  closed(link: Link, why: string): void {
    const s = this.session;
    if (s && s.link === link) this.detach(s, why);
  }

  /** The standby goes: closed, and if it was in sync, removed from the lease before anything is acknowledged alone. */
  private detach(s: Session, why: string): void {
    if (this.session !== s) return;
    this.session = null;
    this.peer = null;
    const wasInSync = s.state === "in-sync";
    this.opts.logger.warn(`replication: standby ${s.hello?.id ?? s.link.remote} detached: ${why}${wasInSync ? "; going on alone once the lease says so" : ""}`);
    s.link.close(why);
    const waiting = s.waiters.splice(0);
    if (!wasInSync && waiting.length === 0 && this.lease.body.inSync.length === 0) return;
    this.startShrink().then(
      () => {
        const err = new ReplicationError(`the standby did not acknowledge (${why})`);
        for (const w of waiting) w.reject(err);
      },
      (e: Error) => {
        // Not even the lease can be written: nothing may be acknowledged (the lease will be lost, and this node demoted).
        for (const w of waiting) w.reject(e);
      },
    );
  }

  /** Rewrites the lease without a standby (once at a time); writes wait for it, and are failed if it cannot be done. */
  private startShrink(): Promise<void> {
    if (this.shrinking) return this.shrinking;
    const shrink = handled(this.shrinkLease());
    this.shrinking = shrink;
    shrink.then(() => {
      if (this.shrinking === shrink) this.shrinking = null;
    }, () => {});
    return shrink;
  }

  /** Rewrites the lease without the standby; retries until it works or the lease is lost. */
  private async shrinkLease(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.lease.update((b) => ({ ...b, inSync: [] }));
        return;
      } catch (e) {
        if (this.lease.lost || this.stopped) throw e;
        if (attempt % 10 === 0) this.opts.logger.warn(`replication: cannot remove the detached standby from the lease yet (acknowledgements wait): ${(e as Error).message}`);
        await Bun.sleep(250);
      }
    }
  }

  private failWaiters(e: Error): void {
    const s = this.session;
    if (s) for (const w of s.waiters.splice(0)) w.reject(e);
  }
}

/**
 * A promise the WAL or the metadata log may only look at after its fsync: marked handled now, so that a rejection
 * meanwhile (the standby detached, this node stepped down) is not reported as an unhandled rejection. The owner still
 * sees the rejection when it awaits the promise.
 */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

/** Byte position of the first entry in `raw` (entries back to back, entry.ts format) that does not parse intact; -1 if none. */
function firstDamaged(raw: Uint8Array): number {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let pos = 0; pos < raw.length; ) {
    const e = parseEntry(raw, dv, pos);
    if (e === "end") return -1;
    if (e === "corrupt") return pos;
    pos = e.end;
  }
  return -1;
}

function refused(e: Error): Promise<void> {
  return handled(Promise.reject(e));
}
