// The metadata log: <data-dir>/metadata.log, an append-only file of typed records (topics, configs, producer ids,
// log start offsets, committed offsets, groups, the S3 manifest). Every room that owns such state registers its
// record types here with a `decode` (stored JSON → its typed union, see records.ts), an `apply` (used on replay and
// when an append becomes durable) and a `snapshot` (used when the file is compacted). State changes are applied only
// once durable, synchronously in the fsync callback, so any snapshot taken between callbacks is consistent.
//
// Record layout (big-endian):
//   0  u32  bit 31: the last record of its write (records are written a flush at a time, one write + fsync);
//           bits 0-30: length of what follows the CRC (payload bytes)
//   4  u32  CRC-32C of the payload
//   8  ...  payload: UTF-8 JSON object with a string field "type"
// Two record types belong to the log itself and are not handed to owners:
//   meta-file   {id}        first record of a file this version created or compacted: names that file
//   meta-image  {file, at}  first record of an image (what the S3 tier uploads): the state of records [0, at) of
//                           file `file`, so a damaged record that lies before `at` can be restored from it
// Only the newest write can be torn by a crash (one write + fsync at a time): damage followed by the records of a
// later write, or before the size a clean close recorded (metadata.log.closed), is corruption, handled by
// meta-recovery.ts; a torn tail is cut off on open. Compaction writes the snapshot of every registered owner to
// metadata.log.tmp, fsyncs it, renames it over metadata.log and fsyncs the directory.
import { closeSync, existsSync, fdatasync, fsyncSync, openSync, readFileSync, renameSync, rmSync, ftruncateSync, writeSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fsyncDir, writeFileDurably } from "./durable-file.ts";
import { crc32c } from "../protocol/crc32c.ts";
import type { Logger } from "../logger.ts";
import { MetaRecordError, type MetaRecord, type RawRecord } from "./records.ts";
import { ReplicationError } from "../wal/wal.ts";

export type { MetaRecord, RawRecord } from "./records.ts";

export interface MetaOwner<R extends { type: string } = MetaRecord> {
  /** Record types this owner handles. */
  readonly types: readonly R["type"][];
  /** A stored record of one of `types` as the owner's typed record; throws MetaRecordError when it is malformed. */
  decode(raw: RawRecord): R;
  /** Applies a durable record (during replay and after each append's fsync). */
  apply(rec: R): void;
  /** Records that recreate the owner's current state, for compaction. */
  snapshot(): R[];
  /**
   * This node starts acting on the state as the primary: after the records found at start were applied, or at
   * promotion of a standby (which applied the primary's records as they came). Continue after what they say.
   */
  activate?(): void;
}

export class MetaLogError extends Error {
  override name = "MetaLogError";
}

/** Synchronous replication of metadata records (src/repl/ implements it), like the WAL's GroupReplicator. */
export interface RecordReplicator {
  /**
   * Records were written (not yet fsync'd): `bytes` in this file's record format. Null when no standby is in sync;
   * else resolves once the standby holds them durably, rejects with ReplicationError (applied, acknowledgement
   * failed) or anything else (the write fails).
   */
  written(bytes: Uint8Array): Promise<void> | null;
  /** A write already handed over failed here. */
  failed(): void;
}

interface Pending<R> {
  recs: R[];
  resolve: () => void;
  reject: (e: Error) => void;
}

const HEADER = 8;
const COMPACT_MIN_BYTES = 4 * 1024 * 1024;
const LAST_OF_WRITE = 0x80000000;
const LENGTH = 0x7fffffff;

export function encodeMetaRecord<T extends { type: string }>(rec: T, lastOfWrite = false): Uint8Array {
  const payload = Buffer.from(JSON.stringify(rec), "utf8");
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32BE((payload.length | (lastOfWrite ? LAST_OF_WRITE : 0)) >>> 0, 0);
  out.writeUInt32BE(crc32c(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

/** Records as one write: back to back, the last one flagged as the end of its write. */
export function encodeMetaWrite<T extends { type: string }>(recs: readonly T[]): Buffer {
  return Buffer.concat(recs.map((r, i) => encodeMetaRecord(r, i === recs.length - 1)));
}

export interface ScannedRecord {
  pos: number;
  end: number;
  raw: RawRecord;
  lastOfWrite: boolean;
}

/** The record at pos: verified and parsed, "end" for zeros or the end of the buffer, "bad" otherwise. */
function recordAt(buf: Uint8Array, dv: DataView, pos: number): ScannedRecord | "end" | "bad" {
  if (pos + HEADER > buf.length) return pos >= buf.length || buf.subarray(pos).every((x) => x === 0) ? "end" : "bad";
  const word = dv.getUint32(pos);
  if (word === 0) return "end";
  const len = word & LENGTH;
  if (len === 0 || pos + HEADER + len > buf.length) return "bad";
  const payload = buf.subarray(pos + HEADER, pos + HEADER + len);
  if (crc32c(payload) !== dv.getUint32(pos + 4)) return "bad";
  let raw: RawRecord;
  try {
    raw = JSON.parse(Buffer.from(payload).toString("utf8")) as RawRecord;
  } catch {
    return "bad";
  }
  if (typeof raw !== "object" || raw === null || typeof raw.type !== "string") return "bad";
  return { pos, end: pos + HEADER + len, raw, lastOfWrite: (word & LAST_OF_WRITE) !== 0 };
}

/** A damaged byte range of a metadata-log image, and what its records may have been. */
export interface MetaDamage {
  from: number;
  to: number;
  /** A torn tail: cut off on open. */
  torn: boolean;
  /** The damaged records as far as they still read (unverified: their checksums failed). */
  unverified: string[];
}

export interface MetaScan {
  /** Intact records in file order (meta-* records included). */
  records: ScannedRecord[];
  damages: MetaDamage[];
  /** The meta-file id of this file, null for files older than it (or restored from an image). */
  generation: string | null;
  /** The meta-image record at the head of an image. */
  image: { file: string; at: number } | null;
}

/** What a damaged range still says: each record whose payload still parses as JSON, else its size. */
function unverifiedRecords(buf: Uint8Array, from: number, to: number): string[] {
  const out: string[] = [];
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let pos = from; pos + HEADER <= to; ) {
    const len = dv.getUint32(pos) & LENGTH;
    if (len === 0 || pos + HEADER + len > to) break;
    const text = Buffer.from(buf.subarray(pos + HEADER, pos + HEADER + len)).toString("utf8");
    const shown = text.length > 300 ? `${text.slice(0, 300)}...` : text;
    let parses = true;
    try {
      JSON.parse(text);
    } catch {
      parses = false;
    }
    out.push(parses ? shown : `${len} bytes that no longer parse as JSON: ${shown}`);
    pos += HEADER + len;
  }
  if (out.length === 0) out.push(`${to - from} bytes that no longer parse`);
  return out;
}

/**
 * Reads every intact record of an image, finding the damaged ranges between them, and tells a torn tail (only the
 * newest write, after the size a clean close recorded) from corruption.
 */
export function scanMetaLog(buf: Uint8Array, closedSize: number | null = null): MetaScan {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: ScannedRecord[] = [];
  const damages: MetaDamage[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const r = recordAt(buf, dv, pos);
    if (typeof r === "object") {
      records.push(r);
      pos = r.end;
      continue;
    }
    // Zeros or damage: is there an intact record further on?
    let next = -1;
    for (let p = pos + 1; p + HEADER <= buf.length; p++) {
      if (buf[p] === 0 && buf[p + 1] === 0 && buf[p + 2] === 0 && buf[p + 3] === 0) continue;
      if (typeof recordAt(buf, dv, p) === "object") {
        next = p;
        break;
      }
    }
    if (next < 0) {
      if (r === "bad") damages.push({ from: pos, to: buf.length, torn: false, unverified: unverifiedRecords(buf, pos, buf.length) });
      break;
    }
    damages.push({ from: pos, to: next, torn: false, unverified: unverifiedRecords(buf, pos, next) });
    pos = next;
  }
  const flagged = records.some((r) => r.lastOfWrite);
  for (const d of damages) {
    const after = records.filter((r) => r.pos >= d.to);
    const oneWrite = after.length === 0 || (flagged && after.slice(0, -1).every((r) => !r.lastOfWrite));
    if (oneWrite && (closedSize === null || d.from >= closedSize)) {
      for (const e of damages) if (e.from >= d.from) e.torn = true;
      break;
    }
  }
  const first = records[0]?.raw;
  return {
    records,
    damages,
    generation: first?.type === "meta-file" && typeof first.id === "string" ? first.id : null,
    image: first?.type === "meta-image" && typeof first.file === "string" && typeof first.at === "number" ? { file: first.file, at: first.at } : null,
  };
}

const isOwnRecord = (r: RawRecord) => r.type === "meta-file" || r.type === "meta-image";

/** The owners' records of an image (what the S3 tier uploads) and the byte length of its intact prefix. */
export function decodeMetaRecords(buf: Uint8Array): { records: RawRecord[]; validEnd: number } {
  const scan = scanMetaLog(buf);
  const validEnd = scan.damages.length ? scan.damages[0]!.from : buf.length;
  return { records: scan.records.filter((r) => r.pos < validEnd && !isOwnRecord(r.raw)).map((r) => r.raw), validEnd };
}

/** The metadata log holds damage that is not a torn tail: meta-recovery.ts restores it, refuses or drops it. */
export class MetaLogCorruption extends Error {
  override name = "MetaLogCorruption";
  constructor(
    readonly path: string,
    readonly scan: MetaScan,
  ) {
    const bad = scan.damages.filter((d) => !d.torn);
    super(`metadata log ${path}: bytes ${bad.map((d) => `${d.from}-${d.to}`).join(", ")} fail their checksums and intact records follow (not a torn write)`);
  }
}

export function closedMarkPath(path: string): string {
  return `${path}.closed`;
}

function readClosedSize(path: string): number | null {
  try {
    const m = JSON.parse(readFileSync(closedMarkPath(path), "utf8")) as { size?: unknown };
    return typeof m.size === "number" ? m.size : null;
  } catch {
    return null;
  }
}

function newGeneration(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex");
}

/** R: the records this log carries (every broker record; tests use their own). */
export class MetadataLog<R extends { type: string } = MetaRecord> {
  private fd: number;
  private size: number;
  private owners = new Map<string, MetaOwner<R>>();
  private allOwners: MetaOwner<R>[] = [];
  private queue: Pending<R>[] = [];
  private syncing = false;
  private compacting = false;
  private scheduled = false;
  private writing: Pending<R>[] | null = null;
  private replicator: RecordReplicator | null = null;
  private bytesAtLastCompaction: number;
  private closed = false;
  /** Records applied so far (replayed or appended): tells an uploader whether anything changed. */
  applied = 0;

  /** The clean-shutdown mark of the last run is still there (removed before this run first writes). */
  private markPending: boolean;

  private constructor(
    private readonly path: string,
    private readonly logger: Logger,
    private replayed: RawRecord[],
    size: number,
    /** The meta-file id of the file (null: older than the id, or restored from an image). */
    private generation: string | null,
  ) {
    this.fd = openSync(path, "r+");
    this.size = size;
    this.bytesAtLastCompaction = size;
    this.markPending = existsSync(closedMarkPath(path));
  }

  /**
   * Opens (or creates) the log, truncating a torn tail. Records are replayed into owners by replay(). Damage that is
   * not a torn tail throws MetaLogCorruption (meta-recovery.ts deals with it).
   */
  static open<R extends { type: string } = MetaRecord>(path: string, logger: Logger): MetadataLog<R> {
    if (!existsSync(path)) {
      writeFileSync(path, encodeMetaWrite([{ type: "meta-file", id: newGeneration() }]));
      const fd = openSync(path, "r");
      fsyncSync(fd);
      closeSync(fd);
      fsyncDir(dirname(path));
    }
    const buf = readFileSync(path);
    const scan = scanMetaLog(buf, readClosedSize(path));
    if (scan.damages.some((d) => !d.torn)) throw new MetaLogCorruption(path, scan);
    const validEnd = scan.damages.length ? scan.damages[0]!.from : buf.length;
    const records = scan.records.filter((r) => r.pos < validEnd);
    if (validEnd < buf.length) {
      logger.warn(`metadata log: truncating ${buf.length - validEnd} bytes of torn tail at offset ${validEnd} (a write cut short by a crash, never acknowledged; ${records.length} records kept)`);
      const fd = openSync(path, "r+");
      ftruncateSync(fd, validEnd);
      fsyncSync(fd);
      closeSync(fd);
    }
    return new MetadataLog<R>(path, logger, records.filter((r) => !isOwnRecord(r.raw)).map((r) => r.raw), validEnd, scan.generation);
  }

  /** This run writes: a crash from now on must not find the last clean close's mark (a stale one only says less). */
  private dropMark(): void {
    if (!this.markPending) return;
    this.markPending = false;
    rmSync(closedMarkPath(this.path), { force: true });
  }

  /** Registers an owner of some of R's record types. */
  register<S extends R>(owner: MetaOwner<S>): void {
    const o = owner as unknown as MetaOwner<R>; // dispatch hands it only records of its own types
    for (const t of o.types) {
      if (this.owners.has(t)) throw new Error(`metadata record type ${t} registered twice`);
      this.owners.set(t, o);
    }
    this.allOwners.push(o);
  }

  /**
   * Applies the records read at open to the registered owners; returns how many there were. A record its owner
   * cannot decode stops the start (MetaLogError naming it): applying the rest would build state on a gap.
   */
  replay(): number {
    const recs = this.replayed;
    this.replayed = [];
    recs.forEach((r, i) => {
      const rec = this.decode(r, `record ${i + 1} of ${recs.length} in ${this.path}`);
      if (rec) this.dispatch(rec);
      else this.applied++;
    });
    return recs.length;
  }

  /** Tells every owner this node now acts on the state as the primary (see MetaOwner.activate). */
  activate(): void {
    for (const o of this.allOwners) o.activate?.();
  }

  /** A stored record as its owner's type; null (logged) for a type no owner knows. Throws MetaLogError if malformed. */
  decode(raw: RawRecord, where: string): R | null {
    const owner = this.owners.get(raw.type);
    if (!owner) {
      this.logger.warn(`metadata log: skipping record of unknown type ${raw.type} (${where})`);
      return null;
    }
    try {
      return owner.decode(raw);
    } catch (e) {
      if (e instanceof MetaRecordError) throw new MetaLogError(`metadata log: ${where}: ${e.message}`);
      throw e;
    }
  }

  private dispatch(rec: R): void {
    this.applied++;
    this.owners.get(rec.type)?.apply(rec);
  }

  /** Appends records; resolves once they are fsync'd and applied. Rejects (nothing applied) on I/O failure. */
  append(...recs: R[]): Promise<void> {
    if (this.closed) return Promise.reject(new MetaLogError("metadata log is closed"));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ recs, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // Collect everything appended in this turn of the event loop into one write + fsync.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.syncing || this.compacting || this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.dropMark();
    const buf = encodeMetaWrite(batch.flatMap((p) => p.recs));
    const total = buf.length;
    const start = this.size;
    try {
      let done = 0;
      while (done < total) done += writeSync(this.fd, buf, done, total - done, start + done);
    } catch (e) {
      this.fail(batch, start, e as Error);
      return;
    }
    this.syncing = true;
    this.writing = batch;
    // The standby writes and fsyncs the records while this fsync runs.
    const replicated = this.replicator?.written(buf) ?? null;
    fdatasync(this.fd, (err) => {
      if (err) return this.settle(batch, start, total, err, replicated !== null);
      if (!replicated) return this.settle(batch, start, total, null, false);
      replicated.then(
        () => this.settle(batch, start, total, null, true),
        (e: Error) => this.settle(batch, start, total, e, true),
      );
    });
  }

  /** A write is done: applied (possibly with its acknowledgement failed: ReplicationError) or failed. */
  private settle(batch: Pending<R>[], start: number, total: number, err: Error | null, handedOver: boolean): void {
    this.syncing = false;
    this.writing = null;
    if (err && !(err instanceof ReplicationError)) {
      if (handedOver) this.replicator?.failed();
      this.fail(batch, start, err);
    } else {
      this.size = start + total;
      // Applied synchronously, before any waiter resumes: state and file agree at every await point.
      for (const p of batch) for (const r of p.recs) this.dispatch(r);
      for (const p of batch) err ? p.reject(err) : p.resolve();
      this.maybeCompact();
    }
    this.flush();
  }

  /** Records written whose fsync has not completed yet (a replication session starting now must send them too). */
  inFlight(): R[] {
    return this.writing ? this.writing.flatMap((p) => p.recs) : [];
  }

  setReplicator(r: RecordReplicator | null): void {
    this.replicator = r;
  }

  /** A standby's append of records the primary wrote (raw, as received): decoded by their owners, then appended. */
  appendReplica(raws: RawRecord[]): Promise<void> {
    const recs: R[] = [];
    for (const raw of raws) {
      const rec = this.decode(raw, "a record from the primary");
      if (rec) recs.push(rec);
    }
    return recs.length ? this.append(...recs) : Promise.resolve();
  }

  private fail(batch: Pending<R>[], start: number, e: Error): void {
    this.logger.error(`metadata log: write at ${start} failed: ${e.message}`);
    try {
      ftruncateSync(this.fd, start); // drop a partial write so the next append lands where it should
    } catch {
      // the next open truncates a bad tail anyway
    }
    const err = new MetaLogError(`metadata log write failed: ${e.message}`);
    for (const p of batch) p.reject(err);
  }

  private maybeCompact(): void {
    const grown = this.size - this.bytesAtLastCompaction;
    if (grown < COMPACT_MIN_BYTES || grown < this.bytesAtLastCompaction) return;
    this.compact();
  }

  /** Rewrites the file as the owners' snapshots. Synchronous: appends wait in the queue meanwhile. */
  compact(): void {
    if (this.syncing || this.compacting || this.closed) return;
    this.compacting = true;
    this.dropMark();
    const tmp = `${this.path}.tmp`;
    try {
      const generation = newGeneration();
      const owners = this.snapshots();
      const buf = encodeMetaWrite([{ type: "meta-file", id: generation }, ...owners]);
      const records = owners.length;
      const total = buf.length;
      const fd = openSync(tmp, "w");
      try {
        let done = 0;
        while (done < total) done += writeSync(fd, buf, done, total - done, done);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.path);
      fsyncDir(dirname(this.path));
      closeSync(this.fd);
      this.fd = openSync(this.path, "r+");
      this.logger.debug(`metadata log: compacted ${this.size} bytes to ${total} (${records} records)`);
      this.size = total;
      this.bytesAtLastCompaction = total;
      this.generation = generation;
    } catch (e) {
      this.logger.error(`metadata log: compaction failed, keeping the old file: ${(e as Error).message}`);
    } finally {
      this.compacting = false;
    }
    this.flush();
  }

  /**
   * The owners' current state as a metadata-log file image (what compaction writes, and what the S3 tier uploads).
   * Synchronous, so it is consistent: every owner applies durable records only between event-loop turns.
   */
  image(): { buf: Buffer; records: number } {
    const owners = this.snapshots();
    // Which records of this file the image holds: those below the durable end (every one of them is applied).
    const head = this.generation ? [{ type: "meta-image", file: this.generation, at: this.size }] : [];
    return { buf: encodeMetaWrite([...head, ...owners]), records: owners.length };
  }

  private snapshots(): { type: string }[] {
    return this.allOwners.flatMap((o) => o.snapshot());
  }

  get bytes(): number {
    return this.size;
  }

  /** Waits until every append made so far is durable (or failed). */
  async drain(): Promise<void> {
    while (this.queue.length || this.syncing || this.scheduled) await new Promise((r) => setTimeout(r, 1));
  }

  /** Waits for queued appends, then closes the file, leaving a mark of its size (damage before it is not torn). */
  async close(): Promise<void> {
    while (this.queue.length || this.syncing || this.scheduled) await new Promise((r) => setTimeout(r, 1));
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    try {
      writeFileDurably(closedMarkPath(this.path), JSON.stringify({ size: this.size }));
    } catch (e) {
      this.logger.warn(`metadata log: could not write the clean-shutdown mark: ${(e as Error).message}`);
    }
  }
}

export const metaPath = (dataDir: string) => join(dataDir, "metadata.log");
