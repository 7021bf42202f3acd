// The write-ahead log: one interleaved log for every partition (formats in entry.ts).
//
// Group commit: appends go into the open group; a group is written with one pwrite and made durable with one
// fdatasync, with at most one fsync in flight. While it runs, new appends collect in the next group, which is
// written once the disk is free and it has waited --wal-sync-interval. Groups complete strictly in order, so
// everything before a durable group is durable too. On an I/O error the group and every group queued behind it
// fail together (their offsets were assigned after the failed ones), and the write position stays put so the
// next group overwrites the failed bytes.
//
// Segments are preallocated (zero-filled, which makes fdatasync fastest, see notes/bun-platform.md §2) and the next
// one is prepared while the current one fills, so rotation never waits on the disk. Groups are built in the chunk
// pool's slabs and stay there as chunks until the slab is reused (chunk-pool.ts), so tail reads are memory reads;
// older data is read with pread.
import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, fstatSync, ftruncateSync, unlinkSync, writeSync } from "node:fs";
import { open as openAsync, rename as renameAsync, unlink as unlinkAsync } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../logger.ts";
import { ChunkPool, type Region } from "./chunk-pool.ts";
import { ENTRY_HEADER, FORMAT, SEGMENT_HEADER, parseEntry, readUnverified, segmentFileName, segmentFormat, segmentLink, writeEntry, writeSegmentHeader } from "./entry.ts";
import { clearClosedMark, couldBeTorn, missingSegments, readClosedMark, readHeader, relink, scanSegment, segmentHasData, writeClosedMark, type SegmentScan, type WalDamage } from "./recovery.ts";

export type { WalDamage } from "./recovery.ts";

/** A damaged range accepted earlier with --accept-data-loss (recorded in the metadata log): replay passes over it. */
export interface WalSkip {
  segment: number;
  from: number;
  to: number;
}

export interface WalReplay {
  entries: number;
  segments: number;
  truncatedBytes: number;
  /**
   * Corruption found (torn tails are cut and not listed), missing segment files included: the caller restores,
   * refuses or accepts it.
   */
  damages: WalDamage[];
  /** The WAL was closed cleanly last time. */
  cleanShutdown: boolean;
}

export class WalError extends Error {
  override name = "WalError";
}

/**
 * The standby did not acknowledge a group in time and was detached (the lease no longer lists it as in sync): the
 * group is durable here and in the log, but its appends were not acknowledged as replicated. A retry of the same
 * idempotent batch is then a duplicate that succeeds.
 */
export class ReplicationError extends WalError {
  override name = "ReplicationError";
}

/**
 * Synchronous replication, as the WAL sees it (src/repl/ implements it): each group is handed over right after its
 * write, so the standby's write and fsync run in parallel with the local fsync, and the group completes only when
 * both are done.
 */
export interface GroupReplicator {
  /**
   * A group was written (not yet fsync'd): `bytes` are its entries in entry.ts format, valid only during the call.
   * Returns null when no standby is in sync; else a promise that resolves when the standby holds the group durably
   * and rejects with ReplicationError (standby detached: complete the group but fail its acknowledgements) or any
   * other error (nothing may be acknowledged: the group fails as a failed write does).
   */
  written(bytes: Uint8Array, firstSeq: number, lastSeq: number): Promise<void> | null;
  /** A group already handed over failed here: the standby may hold entries this WAL will not have. */
  failed(): void;
}

export interface WalOptions {
  dir: string;
  segmentMaxBytes: number;
  syncIntervalMs: number;
  /** 0 = unlimited. */
  maxDiskBytes: number;
  cacheBytes: number;
  /** A group is sealed once it holds this much, so a back-pressure gate lets writes through in bounded steps. */
  maxGroupBytes?: number;
  logger: Logger;
}

/** One appended batch. `meta` is the caller's (the log's partition bookkeeping); the WAL never looks at it. */
export class WalEntry<M> {
  seq = 0;
  segment = -1;
  /** File position of the batch bytes once written. */
  pos = -1;
  chunk = -1;
  /** Where the entry starts within its group. */
  groupOffset = 0;
  constructor(
    readonly topicId: Uint8Array,
    readonly partition: number,
    readonly baseOffset: number,
    public batch: Uint8Array,
    readonly meta: M,
  ) {}
}

export interface WalListener<M> {
  /** Entries of a group that is now durable, in append order. Called before the group's promise resolves. */
  durable(entries: WalEntry<M>[]): void;
  /** Entries that will never be durable. Called before their promises reject. */
  failed(entries: WalEntry<M>[], err: WalError): void;
  /**
   * Segment `id` is about to be deleted because --wal-max-disk-size needs the space: whatever it holds must be
   * given up (or be safe elsewhere) before the promise resolves. Resolving false keeps the segment.
   */
  dropping(id: number): Promise<boolean>;
}

export interface ReplayedEntry {
  seq: number;
  topicId: string;
  partition: number;
  baseOffset: number;
  /** A view into the replay buffer: copy what must outlive the callback. */
  batch: Uint8Array;
  segment: number;
  pos: number;
}

/** A position in the WAL for reading entries back in order (see readRaw). */
export interface WalCursor {
  segment: number;
  pos: number;
}

interface Segment {
  id: number;
  path: string;
  fd: number;
  capacity: number;
}

class Group<M> {
  entries: WalEntry<M>[] = [];
  bytes = 0;
  /** Where the entries are copied as they are appended (chunk-pool.ts); null until the first one. */
  region: Region | null = null;
  /** First entry goes to a new segment of at least this capacity (0 = current segment). */
  rotateTo = 0;
  readonly done: Promise<void>;
  resolve!: () => void;
  reject!: (e: Error) => void;
  constructor(readonly createdAt: number) {
    this.done = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.done.catch(() => {}); // acks=0 producers never await; the listener hears of failures anyway
  }
}

const ZEROS = new Uint8Array(1 << 20);
const ZERO_SYNC_BYTES = 4 << 20;

async function fsyncDirAsync(dir: string): Promise<void> {
  const fh = await openAsync(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class Wal<M> {
  private segments = new Map<number, Segment>(); // ascending ids (insertion order)
  private current: Segment | null = null;
  private writePos = SEGMENT_HEADER;
  private nextSeq = 0;
  private nextSegmentId = 1;
  /** The last segment replay found data in: the one a new segment follows when there is no current one. */
  private replayedLast: number | null = null;
  private prepared: Promise<Segment> | null = null;

  private open: Group<M> | null = null;
  private sealed: Group<M>[] = [];
  private writing = false;
  private timer: { cancel(): void } | null = null;
  // Where the newest queued group ends, to decide when the next append needs a new segment.
  private tailPos = SEGMENT_HEADER;
  private tailCapacity = 0;

  private readonly pool: ChunkPool;
  private readonly maxGroupBytes: number;
  private closed = false;
  /** start() ran: the WAL was being written (only then does a close leave the clean-shutdown mark). */
  private started = false;
  private draining = false;
  private listener: WalListener<M> | null = null;
  private gate: (() => boolean) | null = null;
  private replicator: GroupReplicator | null = null;
  /** First sequence of each segment holding entries (for reading entries back by sequence). */
  private readonly firstSeq = new Map<number, number>();
  /** End of the group written to the current segment whose fsync is in flight (0: none). */
  private inFlightEnd = 0;

  constructor(private readonly opts: WalOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.pool = new ChunkPool(opts.cacheBytes);
    // A group fits one slab, so every group (but one holding a single larger batch) stays readable from memory.
    this.maxGroupBytes = Math.min(opts.maxGroupBytes ?? Infinity, this.pool.slabBytes);
  }

  setListener(l: WalListener<M>): void {
    this.listener = l;
  }

  /**
   * Back-pressure: while `open()` is false, queued groups are not written (their appends wait, nothing is
   * dropped). Call resume() when it may have turned true. Shutdown writes everything regardless.
   */
  setGate(open: (() => boolean) | null): void {
    this.gate = open;
  }

  setReplicator(r: GroupReplicator | null): void {
    this.replicator = r;
  }

  resume(): void {
    this.kick();
  }

  // --- start-up ------------------------------------------------------------------------------------------------

  /**
   * Reads every segment in order, handing each intact entry to `apply`. Damaged ranges are told apart (recovery.ts):
   * a torn tail is cut off (zeroed) and logged; corruption is returned for the caller to restore, refuse or accept,
   * and replay goes on with the entries after it. `skips` are damaged ranges accepted before (--accept-data-loss):
   * passed over quietly.
   */
  async replay(apply: (e: ReplayedEntry) => void, skips: readonly WalSkip[] = []): Promise<WalReplay> {
    const dir = this.opts.dir;
    const files = readdirSync(dir).filter((f) => /^\d{20}\.wal$/.test(f)).sort();
    for (const f of readdirSync(dir)) if (f.endsWith(".tmp")) unlinkSync(join(dir, f));
    const closed = readClosedMark(dir);
    let newestData = -1;
    for (const f of files) if (segmentHasData(join(dir, f))) newestData = Number(f.slice(0, 20));
    let entries = 0;
    let truncatedBytes = 0;
    let lastSeq = -1;
    const damages: WalDamage[] = [];
    let last: { seg: Segment; end: number; format: number } | null = null;
    const empties: Segment[] = [];
    /** Each segment on disk and the one its header names as written before it. */
    const links = new Map<number, number | null>();
    let capacity = this.opts.segmentMaxBytes;
    for (const f of files) {
      await new Promise((r) => setImmediate(r)); // let health probes through between segments
      const id = Number(f.slice(0, 20));
      const path = join(dir, f);
      const buf = readFileSync(path);
      const fd = openSync(path, "r+");
      const seg: Segment = { id, path, fd, capacity: fstatSync(fd).size };
      this.nextSegmentId = Math.max(this.nextSegmentId, id + 1);
      this.segments.set(id, seg);
      links.set(id, segmentLink(buf));
      capacity = Math.max(capacity, seg.capacity);
      let format = segmentFormat(buf);
      let scan: SegmentScan;
      if (format === 0) {
        // A damaged header: the entries tell which format the segment had; the header is written again.
        const two = scanSegment(buf, 2, id, path, lastSeq);
        const one = two.entries.length ? null : scanSegment(buf, 1, id, path, lastSeq);
        format = one && one.entries.length ? 1 : 2;
        scan = one && one.entries.length ? one : two;
        this.opts.logger.error(`WAL: ${f} has a damaged segment header; ${scan.entries.length} intact entries read after it (format ${format}); header rewritten`);
        const header = new Uint8Array(SEGMENT_HEADER);
        writeSegmentHeader(header, format);
        writeSync(fd, header, 0, SEGMENT_HEADER, 0);
        fsyncSync(fd);
        links.set(id, null); // which segment came before is not known any more
      } else {
        scan = scanSegment(buf, format, id, path, lastSeq);
      }
      // Classify the damage: accepted before, torn tail (cut, with everything after it), or corruption.
      let cut = -1;
      for (const d of scan.damages) {
        if (skips.some((k) => k.segment === id && k.from === d.from)) {
          this.opts.logger.warn(`WAL: segment ${id} bytes ${d.from}-${d.to} were marked lost earlier (--accept-data-loss); passed over`);
          continue;
        }
        const closedEnd = closed && closed.segment === id ? closed.end : closed && closed.segment > id ? Infinity : null;
        if (couldBeTorn(d, scan, id >= newestData, closedEnd)) {
          d.torn = true;
          cut = d.from;
          break;
        }
        damages.push(d);
      }
      // A clean shutdown says where the data ends: a tail damage reaches that far (zeros inside an entry are data),
      // and an end that comes early means the end itself was damaged (zeroed).
      if (closed && closed.segment === id && cut < 0) {
        const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
        const lastEnd = scan.entries.at(-1)?.end ?? SEGMENT_HEADER;
        const tail = scan.damages.find((d) => d.from >= lastEnd);
        if (tail && tail.to < closed.end) {
          tail.to = closed.end;
          tail.entries = readUnverified(buf, dv, tail.from, tail.to, format);
        } else if (!tail && lastEnd < closed.end) {
          damages.push({ segment: id, file: path, from: lastEnd, to: closed.end, entries: readUnverified(buf, dv, lastEnd, closed.end, format), torn: false });
        }
      }
      let end = SEGMENT_HEADER;
      for (const e of scan.entries) {
        if (cut >= 0 && e.pos >= cut) break;
        if (!this.firstSeq.has(id)) this.firstSeq.set(id, e.seq);
        apply({ seq: e.seq, topicId: e.topicId, partition: e.partition, baseOffset: e.baseOffset, batch: buf.subarray(e.batchPos, e.batchPos + e.batchSize), segment: id, pos: e.batchPos });
        this.nextSeq = Math.max(this.nextSeq, e.seq + 1);
        lastSeq = e.seq;
        entries++;
        end = e.end;
      }
      if (cut >= 0) {
        // The newest data ends in a torn write: cut it off and zero the rest so no stale entry can reappear.
        truncatedBytes = buf.length - cut;
        this.opts.logger.warn(`WAL: truncating torn tail of segment ${id} at byte ${cut} (a write cut short by a crash, never acknowledged)`);
        ftruncateSync(fd, cut);
        ftruncateSync(fd, seg.capacity);
        fsyncSync(fd);
        end = cut;
      } else if (scan.damages.length) {
        end = Math.max(end, ...scan.damages.map((d) => d.to));
      }
      if (scan.entries.length === 0 && scan.damages.length === 0) {
        empties.push(seg);
        continue;
      }
      // An earlier "empty" segment followed by data: it was prepared but never used. Delete it; a segment whose header
      // names it names the one before it from now on (first, so that a missing segment stays found).
      const unused = empties.splice(0);
      if (unused.some((e) => e.id === links.get(id))) {
        const before = links.get(unused[0]!.id) ?? null;
        relink(fd, before);
        links.set(id, before);
      }
      for (const e of unused) {
        this.deleteSegment(e);
        links.delete(e.id);
      }
      last = { seg, end, format };
    }
    if (last) {
      if (last.format === FORMAT) {
        this.current = last.seg;
        this.writePos = last.end;
      } else {
        this.opts.logger.info(`WAL: segment ${last.seg.id} is in format ${last.format}; new entries go to a new segment`);
      }
    }
    // Segment files named but gone (recovery.ts): damage unless accepted before (--accept-data-loss). New segments
    // and sequence numbers come after theirs.
    for (const d of missingSegments(dir, links, closed, capacity)) {
      this.nextSegmentId = Math.max(this.nextSegmentId, d.segment + 1);
      if (skips.some((k) => k.segment === d.segment && k.from === 0 && k.to === 0)) {
        this.opts.logger.warn(`WAL: segment file ${d.file} is missing; marked lost earlier (--accept-data-loss), passed over`);
        continue;
      }
      damages.push(d);
    }
    if (closed && closed.seq > this.nextSeq) this.nextSeq = closed.seq;
    this.replayedLast = last?.seg.id ?? null;
    // Keep one prepared empty segment for the next rotation (in this version's format); drop the rest.
    const spare = empties.shift();
    for (const e of empties) this.deleteSegment(e);
    if (spare) {
      const header = new Uint8Array(SEGMENT_HEADER);
      writeSegmentHeader(header, FORMAT, links.get(spare.id) ?? this.replayedLast);
      writeSync(spare.fd, header, 0, SEGMENT_HEADER, 0);
      if (this.current === null) {
        this.current = spare;
        this.writePos = SEGMENT_HEADER;
      } else {
        this.prepared = Promise.resolve(spare);
      }
    }
    this.tailPos = this.writePos;
    this.tailCapacity = this.current?.capacity ?? 0;
    return { entries, segments: files.length, truncatedBytes, damages, cleanShutdown: closed !== null };
  }

  /**
   * Missing segments accepted as lost (--accept-data-loss, recorded durably): the segments whose headers name them
   * name no segment before them from now on, so they are not found missing again.
   */
  forgetMissing(ids: readonly number[]): void {
    for (const seg of this.segments.values()) {
      const after = segmentLink(readHeader(seg.fd));
      if (after !== null && ids.includes(after)) relink(seg.fd, null);
    }
  }

  /** Whether old segments may be deleted with data not elsewhere (--wal-max-disk-size; the log start moves first). */
  get dropsOldest(): boolean {
    return this.opts.maxDiskBytes > 0;
  }

  /** Makes sure a current segment exists and the next one is being prepared. Call after replay. */
  async start(): Promise<void> {
    // From here the WAL is written: a crash must leave no clean-shutdown mark (a refused start keeps it).
    clearClosedMark(this.opts.dir);
    this.started = true;
    if (!this.current) {
      this.current = await this.createSegment(this.opts.segmentMaxBytes);
      this.writePos = SEGMENT_HEADER;
      this.tailPos = this.writePos;
      this.tailCapacity = this.current.capacity;
    }
    this.prepareNext();
  }

  // --- appends -------------------------------------------------------------------------------------------------

  /**
   * Queues an entry; the promise resolves when it is durable (shared by every entry of its group). A standby passes
   * the sequence number the primary gave the entry (never below the next one), so both WALs number it alike.
   */
  append(entry: WalEntry<M>, seq?: number): Promise<void> {
    if (this.closed) return Promise.reject(new WalError("WAL is closed"));
    if (seq !== undefined && seq < this.nextSeq) return Promise.reject(new WalError(`WAL sequence ${seq} is below the next one (${this.nextSeq})`));
    const size = ENTRY_HEADER + entry.batch.length;
    entry.seq = seq ?? this.nextSeq;
    this.nextSeq = entry.seq + 1;
    if (this.open === null) this.open = new Group<M>(performance.now());
    if (this.open.entries.length > 0 && this.open.bytes + size > this.maxGroupBytes) {
      this.seal();
      this.open = new Group<M>(performance.now());
    }
    if (this.tailPos + size > this.tailCapacity) {
      // Does not fit the segment the queue is writing into: this and later entries go to a new segment.
      if (this.open.entries.length > 0) {
        this.seal();
        this.open = new Group<M>(performance.now());
      }
      this.open.rotateTo = Math.max(this.opts.segmentMaxBytes, SEGMENT_HEADER + size);
      this.tailPos = SEGMENT_HEADER;
      this.tailCapacity = this.open.rotateTo;
    }
    // The entry is copied into its group's region now, so the request that carried it can go at once.
    let at = this.open.region === null ? -1 : this.pool.take(this.open.region, size);
    if (at < 0 && this.open.entries.length > 0) {
      this.seal(); // its region is full: this entry starts the next group
      this.open = new Group<M>(performance.now());
    }
    if (at < 0) {
      this.open.region = this.pool.region(size);
      at = this.pool.take(this.open.region, size);
    }
    const r = this.open.region!;
    entry.groupOffset = this.open.bytes;
    const end = writeEntry(r.buf, r.dv, at, entry.seq, entry.topicId, entry.partition, entry.baseOffset, entry.batch, entry.groupOffset);
    entry.batch = r.buf.subarray(at + ENTRY_HEADER, end);
    entry.chunk = r.chunk;
    this.open.entries.push(entry);
    this.open.bytes += size;
    this.tailPos += size;
    this.kick();
    return this.open.done;
  }

  /** The open group takes no more entries. */
  private seal(): void {
    const g = this.open!;
    if (g.region) this.pool.close(g.region);
    this.sealed.push(g);
    this.open = null;
  }

  private kick(): void {
    if (this.writing || this.timer !== null) return;
    const g = this.sealed.length > 0 ? null : this.open;
    if (this.sealed.length === 0 && !g) return;
    const wait = g ? this.opts.syncIntervalMs - (performance.now() - g.createdAt) : 0;
    if (wait > 0) {
      const t = setTimeout(() => this.pump(), wait);
      this.timer = { cancel: () => clearTimeout(t) };
    } else {
      // Even with no wait, defer to the end of this turn so appends of one event-loop turn share a write.
      const t = setImmediate(() => this.pump());
      this.timer = { cancel: () => clearImmediate(t) };
    }
  }

  private pump(): void {
    this.timer = null;
    if (this.writing) return;
    if (this.gate !== null && !this.draining && !this.gate()) return; // resume() starts again
    let g = this.sealed.shift();
    if (!g && this.open && this.open.entries.length > 0) {
      g = this.open;
      this.open = null;
      this.pool.close(g.region!);
    }
    if (!g) return;
    this.writing = true;
    void this.writeGroup(g);
  }

  private async writeGroup(g: Group<M>): Promise<void> {
    let buf: Uint8Array;
    let seg: Segment | null = null;
    let done = 0;
    let replicated: Promise<void> | null = null;
    let notReplicated: ReplicationError | null = null;
    try {
      if (g.rotateTo > 0) await this.rotate(g.rotateTo); // awaits only when the next segment is not ready yet
      seg = this.current!;
      // The entries were copied into the group's region as they were appended.
      buf = this.pool.close(g.region!);
      for (const e of g.entries) {
        e.segment = seg.id;
        e.pos = this.writePos + e.groupOffset + ENTRY_HEADER;
      }
      const fd = seg.fd;
      while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, this.writePos + done);
      if (this.writePos === SEGMENT_HEADER) this.firstSeq.set(seg.id, g.entries[0]!.seq);
      this.inFlightEnd = this.writePos + buf.length;
      // The standby writes and fsyncs the group while this fsync runs.
      replicated = this.replicator?.written(buf, g.entries[0]!.seq, g.entries[g.entries.length - 1]!.seq) ?? null;
      await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
      if (replicated) {
        // Other appends collect in the next group meanwhile (one group in flight, as with the local fsync alone).
        await replicated.catch((e: Error) => {
          if (!(e instanceof ReplicationError)) throw e;
          notReplicated = e;
        });
      }
    } catch (e) {
      this.writing = false;
      if (seg && done > 0) this.unwrite(seg, done);
      this.inFlightEnd = 0;
      if (replicated) this.replicator?.failed();
      this.failFrom(g, e as Error);
      this.kick();
      return;
    }
    // Durable. Everything below runs synchronously, before any waiter resumes.
    this.writing = false;
    this.inFlightEnd = 0;
    this.writePos += buf.length;
    this.pool.commit(g.region!, seg.id, this.writePos - buf.length);
    this.listener?.durable(g.entries);
    if (notReplicated) g.reject(notReplicated);
    else g.resolve();
    if (this.sealed.length > 0 || (this.open && this.open.entries.length > 0)) this.kick();
  }

  /**
   * Zeroes what a failed write left after the tail (best effort: the space is preallocated), so that no intact-looking
   * leftover of a write that was never acknowledged can be taken for data after damage at the next start.
   */
  private unwrite(seg: Segment, bytes: number): void {
    try {
      for (let o = 0; o < bytes; ) o += writeSync(seg.fd, ZEROS, 0, Math.min(ZEROS.length, bytes - o), this.writePos + o);
    } catch {
      // the next start sees leftovers with older sequence numbers than what follows, and passes over them
    }
  }

  /** Fails g and everything queued after it; the tail goes back to where the disk really is. */
  private failFrom(g: Group<M>, cause: Error): void {
    const err = new WalError(`WAL write failed: ${cause.message}`);
    const groups = [g, ...this.sealed, ...(this.open ? [this.open] : [])];
    this.sealed = [];
    this.open = null;
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
    this.tailPos = this.writePos;
    this.tailCapacity = this.current?.capacity ?? 0;
    for (const x of groups) if (x.region) this.pool.abandon(x.region);
    const failed = groups.flatMap((x) => x.entries);
    this.opts.logger.error(`WAL: ${err.message}; ${failed.length} appends failed`);
    this.listener?.failed(failed, err);
    for (const x of groups) x.reject(err);
  }

  private async rotate(capacity: number): Promise<void> {
    // Always the prepared segment (ids must follow the order segments are used in), grown when an entry needs more.
    const prepared = this.prepared;
    this.prepared = null;
    let next: Segment;
    try {
      next = prepared ? await prepared : await this.createSegment(capacity);
    } catch {
      next = await this.createSegment(capacity); // preparation failed earlier (disk full?): try once more now
    }
    if (next.capacity < capacity) {
      ftruncateSync(next.fd, capacity); // the extension reads as zeros
      next.capacity = capacity;
    }
    this.current = next;
    this.writePos = SEGMENT_HEADER;
    this.prepareNext();
    void this.enforceDiskLimit();
  }

  private prepareNext(): void {
    if (this.prepared || this.closed) return;
    const p = this.createSegment(this.opts.segmentMaxBytes);
    p.catch((e: NodeJS.ErrnoException) => {
      const hint = e.code === "EMFILE" || e.code === "ENFILE" ? ": out of file descriptors, raise the open-files limit (ulimit -n)" : e.code === "ENOSPC" ? ": the data dir is full" : "";
      this.opts.logger.warn(`WAL: could not prepare the next segment (${e.message})${hint}; will retry at rotation`);
      if (this.prepared === p) this.prepared = null;
    });
    this.prepared = p;
  }

  private async createSegment(capacity: number): Promise<Segment> {
    await this.makeRoomFor(capacity);
    const id = this.nextSegmentId++;
    const path = join(this.opts.dir, segmentFileName(id));
    const tmp = `${path}.tmp`;
    const fh = await openAsync(tmp, "w+");
    try {
      const header = new Uint8Array(SEGMENT_HEADER);
      // It follows the segment being written now (the prepared one is always the next one used).
      writeSegmentHeader(header, FORMAT, this.current?.id ?? this.replayedLast);
      await fh.write(header, 0, SEGMENT_HEADER, 0);
      // Flushed a few MiB at a time: one 64 MiB flush holds the device, and with it the fsync of every produce
      // waiting behind it.
      let unsynced = 0;
      for (let pos = SEGMENT_HEADER; pos < capacity; ) {
        const n = Math.min(ZEROS.length, capacity - pos);
        const { bytesWritten } = await fh.write(ZEROS, 0, n, pos);
        pos += bytesWritten;
        unsynced += bytesWritten;
        if (unsynced >= ZERO_SYNC_BYTES) {
          await fh.datasync();
          unsynced = 0;
        }
      }
      await fh.datasync();
      await fh.close();
    } catch (e) {
      await fh.close().catch(() => {});
      await unlinkAsync(tmp).catch(() => {});
      throw e;
    }
    await renameAsync(tmp, path);
    await fsyncDirAsync(this.opts.dir);
    const seg: Segment = { id, path, fd: openSync(path, "r+"), capacity };
    this.segments.set(id, seg);
    return seg;
  }

  // --- disk budget -------------------------------------------------------------------------------------------

  /** File descriptors the WAL holds: one per segment file (the prepared next one included). */
  get openFiles(): number {
    return this.segments.size;
  }

  get diskBytes(): number {
    let n = 0;
    for (const s of this.segments.values()) n += s.capacity;
    return n;
  }

  /** With --wal-max-disk-size, drops the oldest segments until `extra` more bytes fit. */
  private async makeRoomFor(extra: number): Promise<void> {
    const max = this.opts.maxDiskBytes;
    if (max <= 0) return;
    while (this.diskBytes + extra > max) {
      const oldest = this.segments.values().next().value as Segment | undefined;
      if (!oldest || oldest === this.current || oldest.id >= (this.current?.id ?? Infinity)) return;
      if (!(await this.dropSegment(oldest))) return;
    }
  }

  private async enforceDiskLimit(): Promise<void> {
    try {
      await this.makeRoomFor(0);
    } catch (e) {
      this.opts.logger.error(`WAL: could not drop old segments: ${(e as Error).message}`);
    }
  }

  private async dropSegment(seg: Segment): Promise<boolean> {
    if (this.listener && !(await this.listener.dropping(seg.id))) return false;
    if (!this.segments.has(seg.id)) return true;
    this.opts.logger.info(`WAL: deleting segment ${seg.id} (--wal-max-disk-size ${this.opts.maxDiskBytes})`);
    this.forget(seg);
    return true;
  }

  /** Deletes every segment with an id below `id` (never the one being written): their entries are safe elsewhere. */
  deleteSegmentsBefore(id: number): number {
    let n = 0;
    for (const seg of [...this.segments.values()]) {
      if (seg.id >= id || seg.id >= (this.current?.id ?? Infinity)) break;
      this.forget(seg);
      n++;
    }
    if (n) this.opts.logger.debug(`WAL: deleted ${n} segments below ${id}, their entries are in S3`);
    return n;
  }

  private forget(seg: Segment): void {
    this.pool.dropSegment(seg.id);
    this.deleteSegment(seg);
  }

  /** Id of the segment being written. */
  get currentSegment(): number {
    return this.current?.id ?? 0;
  }

  private deleteSegment(seg: Segment): void {
    this.segments.delete(seg.id);
    this.firstSeq.delete(seg.id);
    try {
      closeSync(seg.fd);
    } catch {
      // already closed
    }
    unlinkSync(seg.path);
  }

  /** Oldest segment id still on disk (for tests and stats). */
  get oldestSegment(): number | null {
    return (this.segments.keys().next().value as number | undefined) ?? null;
  }

  // --- reads ---------------------------------------------------------------------------------------------------

  /**
   * The bytes of a stored batch: a view of its memory chunk when still pooled (valid until this turn's microtasks
   * have run, see chunk-pool.ts), else read from the segment file.
   */
  read(segment: number, pos: number, size: number, chunk: number): Uint8Array {
    const view = this.cached(chunk, pos, size);
    if (view !== null) return view;
    const out = new Uint8Array(size);
    this.pread(segment, pos, out, 0, size);
    return out;
  }

  /** The batch at `pos` as a view of its memory chunk, or null when the chunk is gone (read it from the file). */
  cached(chunk: number, pos: number, size: number): Uint8Array | null {
    const c = this.pool.get(chunk);
    return c === undefined ? null : c.buf.subarray(pos - c.pos, pos - c.pos + size);
  }

  /** Reads len bytes at `pos` of a segment file into buf[at..]: one pread (more only if the kernel returns less). */
  pread(segment: number, pos: number, buf: Uint8Array, at: number, len: number): void {
    const seg = this.segments.get(segment);
    if (!seg) throw new WalError(`WAL segment ${segment} is gone`);
    let done = 0;
    while (done < len) {
      const n = readSync(seg.fd, buf, at + done, len - done, pos + done);
      if (n === 0) throw new WalError(`short read in WAL segment ${segment} at ${pos + done}`);
      done += n;
    }
  }

  // --- reading entries back by sequence (a standby's backfill) -----------------------------------------------

  /** The sequence number the next appended entry gets. */
  get nextSequence(): number {
    return this.nextSeq;
  }

  /** Where the entry with the smallest sequence >= `seq` is (or the written end); the oldest entry when `seq` is older. */
  cursorAt(seq: number): WalCursor {
    let seg: number | null = null;
    for (const [id, first] of this.firstSeq) if (first <= seq && (seg === null || id > seg)) seg = id;
    if (seg === null) seg = this.oldestWithEntries() ?? this.currentSegment;
    const c: WalCursor = { segment: seg, pos: SEGMENT_HEADER };
    const head = new Uint8Array(16);
    const dv = new DataView(head.buffer);
    for (;;) {
      const s = this.segments.get(c.segment);
      if (!s || c.pos + 16 > this.writtenEnd(s)) return c;
      readSync(s.fd, head, 0, 16, c.pos);
      const len = dv.getUint32(0);
      if (len === 0) return c;
      if (dv.getUint32(8) * 4294967296 + dv.getUint32(12) >= seq) return c;
      c.pos += 4 + len;
    }
  }

  /** Sequence of the oldest entry on disk, null when there is none. */
  get oldestSequence(): number | null {
    const id = this.oldestWithEntries();
    return id === null ? null : this.firstSeq.get(id)!;
  }

  private oldestWithEntries(): number | null {
    let min: number | null = null;
    for (const id of this.firstSeq.keys()) if (this.segments.has(id) && (min === null || id < min)) min = id;
    return min;
  }

  /** How far a segment holds written entries (fsync'd, or written with the fsync in flight). */
  private writtenEnd(s: Segment): number {
    return s === this.current ? this.inFlightEnd || this.writePos : s.capacity;
  }

  /**
   * Entries from the cursor on, as written (entry.ts format, at most maxBytes unless one entry is larger), moving the
   * cursor past them; empty at the written end; null when the cursor's segment was deleted meanwhile. Checksums are
   * not checked here (the caller parses what it gets); a first entry whose length is damaged comes back as the rest
   * of the segment's written bytes.
   */
  readRaw(c: WalCursor, maxBytes: number): Uint8Array | null {
    for (;;) {
      const s = this.segments.get(c.segment);
      if (!s) return null;
      const end = this.writtenEnd(s);
      const head = new Uint8Array(4);
      const atEnd = c.pos + 4 > end || (readSync(s.fd, head, 0, 4, c.pos), new DataView(head.buffer).getUint32(0) === 0);
      if (atEnd) {
        if (s === this.current) return new Uint8Array(0);
        let next: number | null = null;
        for (const id of this.segments.keys()) if (id > c.segment && (next === null || id < next)) next = id;
        if (next === null) return new Uint8Array(0);
        c.segment = next;
        c.pos = SEGMENT_HEADER;
        continue;
      }
      const first = new DataView(head.buffer).getUint32(0) + 4;
      const want = Math.min(end - c.pos, Math.max(maxBytes, first));
      const buf = new Uint8Array(want);
      let got = 0;
      while (got < want) {
        const n = readSync(s.fd, buf, got, want - got, c.pos + got);
        if (n === 0) break;
        got += n;
      }
      const dv = new DataView(buf.buffer);
      let o = 0;
      while (o + 4 <= got) {
        const len = dv.getUint32(o);
        if (len === 0 || o + 4 + len > got) break;
        o += 4 + len;
      }
      // The first entry's length runs past what is written: damage (a written entry always fits). Returned as read,
      // cursor moved past it, so the caller's parse finds it damaged at its position instead of taking it for the end.
      if (o === 0 && got > 0) o = got;
      c.pos += o;
      return this.inCurrentFormat(s, buf.subarray(0, o));
    }
  }

  /** Entries read from a segment written before format 2 are re-encoded, so a reader of the stream sees one format. */
  private inCurrentFormat(s: Segment, raw: Uint8Array): Uint8Array {
    const header = new Uint8Array(SEGMENT_HEADER);
    readSync(s.fd, header, 0, SEGMENT_HEADER, 0);
    const format = segmentFormat(header);
    if (format === FORMAT) return raw;
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const parts: Uint8Array[] = [];
    for (let pos = 0; pos < raw.length; ) {
      const e = parseEntry(raw, dv, pos, format);
      if (e === "end" || e === "corrupt") break;
      const out = new Uint8Array(ENTRY_HEADER + e.batchSize);
      writeEntry(out, new DataView(out.buffer), 0, e.seq, Buffer.from(e.topicId, "hex"), e.partition, e.baseOffset, raw.subarray(e.batchPos, e.batchPos + e.batchSize), 0);
      parts.push(out);
      pos = e.end;
    }
    return Buffer.concat(parts);
  }

  /** Memory the chunk pool's slabs take. */
  get poolAllocatedBytes(): number {
    return this.pool.allocatedBytes;
  }

  get cachedBytes(): number {
    return this.pool.bytes;
  }

  // --- shutdown ------------------------------------------------------------------------------------------------

  /** Writes and syncs everything queued (past the back-pressure gate); the files stay open for reads. */
  async drain(): Promise<void> {
    this.draining = true;
    while (this.writing || this.sealed.length > 0 || (this.open && this.open.entries.length > 0)) {
      if (!this.writing && this.timer === null) this.pump();
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Writes and syncs everything queued, then closes the files; a clean close leaves a mark saying where the WAL ends. */
  async close(): Promise<void> {
    await this.drain();
    const clean = this.started && !this.closed && this.current !== null && this.sealed.length === 0 && this.open === null;
    this.closed = true;
    if (clean) {
      try {
        writeClosedMark(this.opts.dir, { segment: this.current!.id, end: this.writePos, seq: this.nextSeq });
      } catch (e) {
        this.opts.logger.warn(`WAL: could not write the clean-shutdown mark: ${(e as Error).message}`);
      }
    }
    this.timer?.cancel();
    const prepared = this.prepared;
    this.prepared = null;
    if (prepared) await prepared.catch(() => null);
    for (const s of this.segments.values()) {
      try {
        closeSync(s.fd);
      } catch {
        // ignore
      }
    }
  }
}
