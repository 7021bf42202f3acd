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
import { ChunkPool, type Reservation } from "./chunk-pool.ts";
import { ENTRY_HEADER, SEGMENT_HEADER, hasSegmentHeader, parseEntry, segmentFileName, writeEntry, writeSegmentHeader } from "./entry.ts";

export class WalError extends Error {
  override name = "WalError";
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

interface Segment {
  id: number;
  path: string;
  fd: number;
  capacity: number;
}

class Group<M> {
  entries: WalEntry<M>[] = [];
  bytes = 0;
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
  private draining = false;
  private listener: WalListener<M> | null = null;
  private gate: (() => boolean) | null = null;

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
  setGate(open: () => boolean): void {
    this.gate = open;
  }

  resume(): void {
    this.kick();
  }

  // --- start-up ------------------------------------------------------------------------------------------------

  /**
   * Reads every segment in order, handing each intact entry to `apply`. A torn or corrupt tail of the newest
   * segment is cut off (zeroed); corruption inside an older segment skips the rest of that segment with an error.
   */
  async replay(apply: (e: ReplayedEntry) => void): Promise<{ entries: number; segments: number; truncatedBytes: number }> {
    const files = readdirSync(this.opts.dir).filter((f) => /^\d{20}\.wal$/.test(f)).sort();
    for (const f of readdirSync(this.opts.dir)) if (f.endsWith(".tmp")) unlinkSync(join(this.opts.dir, f));
    let entries = 0;
    let truncatedBytes = 0;
    let lastWithData: { seg: Segment; end: number; bad: boolean; size: number } | null = null;
    const empties: Segment[] = [];
    for (const f of files) {
      await new Promise((r) => setImmediate(r)); // let health probes through between segments
      const id = Number(f.slice(0, 20));
      const path = join(this.opts.dir, f);
      const buf = readFileSync(path);
      const fd = openSync(path, "r+");
      const seg: Segment = { id, path, fd, capacity: fstatSync(fd).size };
      this.nextSegmentId = Math.max(this.nextSegmentId, id + 1);
      if (!hasSegmentHeader(buf)) {
        this.opts.logger.error(`WAL: ${f} has no valid header; skipping it`);
        this.segments.set(id, seg);
        continue;
      }
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let pos = SEGMENT_HEADER;
      let bad = false;
      for (;;) {
        const e = parseEntry(buf, dv, pos);
        if (e === "end") break;
        if (e === "corrupt") {
          bad = true;
          break;
        }
        apply({ seq: e.seq, topicId: e.topicId, partition: e.partition, baseOffset: e.baseOffset, batch: buf.subarray(e.batchPos, e.batchPos + e.batchSize), segment: id, pos: e.batchPos });
        this.nextSeq = Math.max(this.nextSeq, e.seq + 1);
        entries++;
        pos = e.end;
      }
      this.segments.set(id, seg);
      if (pos === SEGMENT_HEADER && !bad) {
        empties.push(seg);
        continue;
      }
      if (lastWithData?.bad) {
        this.opts.logger.error(`WAL: corrupt entry in segment ${lastWithData.seg.id} at ${lastWithData.end}; the rest of that segment was skipped`);
      }
      // An earlier "empty" segment followed by data: it was prepared but never used. Delete it.
      for (const s of empties.splice(0)) this.deleteSegment(s);
      lastWithData = { seg, end: pos, bad, size: buf.length };
    }
    if (lastWithData) {
      const { seg, end, bad, size } = lastWithData;
      if (bad) {
        // The newest data ends in a torn write: cut it off and zero the rest so no stale entry can reappear.
        truncatedBytes = size - end;
        this.opts.logger.warn(`WAL: truncating torn tail of segment ${seg.id} at byte ${end}`);
        ftruncateSync(seg.fd, end);
        ftruncateSync(seg.fd, seg.capacity);
        fsyncSync(seg.fd);
      }
      this.current = seg;
      this.writePos = end;
    }
    // Keep one prepared empty segment for the next rotation; drop the rest.
    const spare = empties.shift();
    for (const s of empties) this.deleteSegment(s);
    if (spare) {
      if (this.current === null) {
        this.current = spare;
        this.writePos = SEGMENT_HEADER;
      } else {
        this.prepared = Promise.resolve(spare);
      }
    }
    this.tailPos = this.writePos;
    this.tailCapacity = this.current?.capacity ?? 0;
    return { entries, segments: files.length, truncatedBytes };
  }

  /** Makes sure a current segment exists and the next one is being prepared. Call after replay. */
  async start(): Promise<void> {
    if (!this.current) {
      this.current = await this.createSegment(this.opts.segmentMaxBytes);
      this.writePos = SEGMENT_HEADER;
      this.tailPos = this.writePos;
      this.tailCapacity = this.current.capacity;
    }
    this.prepareNext();
  }

  // --- appends -------------------------------------------------------------------------------------------------

  /** Queues an entry; the promise resolves when it is durable (shared by every entry of its group). */
  append(entry: WalEntry<M>): Promise<void> {
    if (this.closed) return Promise.reject(new WalError("WAL is closed"));
    const size = ENTRY_HEADER + entry.batch.length;
    entry.seq = this.nextSeq++;
    if (this.open === null) this.open = new Group<M>(performance.now());
    if (this.open.entries.length > 0 && this.open.bytes + size > this.maxGroupBytes) {
      this.sealed.push(this.open);
      this.open = new Group<M>(performance.now());
    }
    if (this.tailPos + size > this.tailCapacity) {
      // Does not fit the segment the queue is writing into: this and later entries go to a new segment.
      if (this.open.entries.length > 0) {
        this.sealed.push(this.open);
        this.open = new Group<M>(performance.now());
      }
      this.open.rotateTo = Math.max(this.opts.segmentMaxBytes, SEGMENT_HEADER + size);
      this.tailPos = SEGMENT_HEADER;
      this.tailCapacity = this.open.rotateTo;
    }
    this.open.entries.push(entry);
    this.open.bytes += size;
    this.tailPos += size;
    this.kick();
    return this.open.done;
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
    }
    if (!g) return;
    this.writing = true;
    void this.writeGroup(g);
  }

  private async writeGroup(g: Group<M>): Promise<void> {
    let buf: Uint8Array;
    let seg: Segment;
    let space: Reservation;
    try {
      if (g.rotateTo > 0) {
        await this.rotate(g.rotateTo); // awaits only when the next segment is not ready yet
        // Space is reserved only at the start of a turn: a view handed out earlier in this turn (a fetch not yet
        // encoded) must not see its slab reused.
        await new Promise((r) => setImmediate(r));
      }
      seg = this.current!;
      space = this.pool.reserve(g.bytes);
      buf = space.buf;
      const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let o = 0;
      for (const e of g.entries) {
        const end = writeEntry(buf, dv, o, e.seq, e.topicId, e.partition, e.baseOffset, e.batch);
        e.segment = seg.id;
        e.pos = this.writePos + o + ENTRY_HEADER;
        e.chunk = space.chunk;
        e.batch = buf.subarray(o + ENTRY_HEADER, end); // the request's bytes can go
        o = end;
      }
      let done = 0;
      while (done < buf.length) done += writeSync(seg.fd, buf, done, buf.length - done, this.writePos + done);
      const fd = seg.fd;
      await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    } catch (e) {
      this.writing = false;
      this.failFrom(g, e as Error);
      this.kick();
      return;
    }
    // Durable. Everything below runs synchronously, before any waiter resumes.
    this.writing = false;
    this.writePos += buf.length;
    this.pool.commit(space, seg.id, this.writePos - buf.length);
    this.listener?.durable(g.entries);
    g.resolve();
    if (this.sealed.length > 0 || (this.open && this.open.entries.length > 0)) this.kick();
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
    p.catch((e: Error) => {
      this.opts.logger.warn(`WAL: could not prepare the next segment (${e.message}); will retry at rotation`);
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
      writeSegmentHeader(header);
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
    const c = this.pool.get(chunk);
    if (c !== undefined) return c.buf.subarray(pos - c.pos, pos - c.pos + size);
    const seg = this.segments.get(segment);
    if (!seg) throw new WalError(`WAL segment ${segment} is gone`);
    const out = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const n = readSync(seg.fd, out, done, size - done, pos + done);
      if (n === 0) throw new WalError(`short read in WAL segment ${segment} at ${pos}`);
      done += n;
    }
    return out;
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

  /** Writes and syncs everything queued, then closes the files. */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
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
