// The metadata log: <data-dir>/metadata.log, an append-only file of typed records (topics, configs, producer ids,
// log start offsets, committed offsets, groups, the S3 manifest). Every room that owns such state registers its
// record types here with a `decode` (stored JSON → its typed union, see records.ts), an `apply` (used on replay and
// when an append becomes durable) and a `snapshot` (used when the file is compacted). State changes are applied only
// once durable, synchronously in the fsync callback, so any snapshot taken between callbacks is consistent.
//
// Record layout (big-endian):
//   0  u32  length of what follows the CRC (payload bytes)
//   4  u32  CRC-32C of the payload
//   8  ...  payload: UTF-8 JSON object with a string field "type"
// A torn or CRC-bad tail record (a crash during a write) is truncated on open. Compaction writes the snapshot of
// every registered owner to metadata.log.tmp, fsyncs it, renames it over metadata.log and fsyncs the directory.
import { closeSync, existsSync, fdatasync, fsyncSync, openSync, readFileSync, renameSync, ftruncateSync, writeSync, fstatSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fsyncDir } from "./durable-file.ts";
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


export function encodeMetaRecord(rec: { type: string }): Uint8Array {
  const payload = Buffer.from(JSON.stringify(rec), "utf8");
  const out = Buffer.allocUnsafe(HEADER + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(crc32c(payload), 4);
  payload.copy(out, HEADER);
  return out;
}

/** Parses records from a file image; returns them and the byte length of the valid prefix. */
export function decodeMetaRecords(buf: Uint8Array): { records: RawRecord[]; validEnd: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const records: RawRecord[] = [];
  let pos = 0;
  while (pos + HEADER <= buf.length) {
    const len = dv.getUint32(pos);
    if (len === 0 || pos + HEADER + len > buf.length) break;
    const payload = buf.subarray(pos + HEADER, pos + HEADER + len);
    if (crc32c(payload) !== dv.getUint32(pos + 4)) break;
    let rec: RawRecord;
    try {
      rec = JSON.parse(Buffer.from(payload).toString("utf8")) as RawRecord;
    } catch {
      break;
    }
    if (typeof rec !== "object" || rec === null || typeof rec.type !== "string") break;
    records.push(rec);
    pos += HEADER + len;
  }
  return { records, validEnd: pos };
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

  private constructor(private readonly path: string, private readonly logger: Logger, private replayed: RawRecord[], size: number) {
    this.fd = openSync(path, "r+");
    this.size = size;
    this.bytesAtLastCompaction = size;
  }

  /** Opens (or creates) the log, truncating a torn tail. Records are replayed into owners by replay(). */
  static open<R extends { type: string } = MetaRecord>(path: string, logger: Logger): MetadataLog<R> {
    if (!existsSync(path)) {
      writeFileSync(path, new Uint8Array(0));
      fsyncDir(dirname(path));
    }
    const buf = readFileSync(path);
    const { records, validEnd } = decodeMetaRecords(buf);
    if (validEnd < buf.length) {
      logger.warn(`metadata log: truncating ${buf.length - validEnd} bytes of torn or corrupt tail at offset ${validEnd} (${records.length} records kept)`);
      const fd = openSync(path, "r+");
      ftruncateSync(fd, validEnd);
      fsyncSync(fd);
      closeSync(fd);
    }
    return new MetadataLog<R>(path, logger, records, validEnd);
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
    const bufs = batch.flatMap((p) => p.recs.map(encodeMetaRecord));
    const total = bufs.reduce((n, b) => n + b.length, 0);
    const buf = Buffer.allocUnsafe(total);
    let o = 0;
    for (const b of bufs) {
      buf.set(b, o);
      o += b.length;
    }
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
    const tmp = `${this.path}.tmp`;
    try {
      const { buf, records } = this.image();
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
    const bufs = this.allOwners.flatMap((o) => o.snapshot()).map(encodeMetaRecord);
    const buf = Buffer.allocUnsafe(bufs.reduce((n, b) => n + b.length, 0));
    let o = 0;
    for (const b of bufs) {
      buf.set(b, o);
      o += b.length;
    }
    return { buf, records: bufs.length };
  }

  get bytes(): number {
    return this.size;
  }

  /** Waits until every append made so far is durable (or failed). */
  async drain(): Promise<void> {
    while (this.queue.length || this.syncing || this.scheduled) await new Promise((r) => setTimeout(r, 1));
  }

  /** Waits for queued appends, then closes the file. */
  async close(): Promise<void> {
    while (this.queue.length || this.syncing || this.scheduled) await new Promise((r) => setTimeout(r, 1));
    this.closed = true;
    closeSync(this.fd);
  }
}

export const metaPath = (dataDir: string) => join(dataDir, "metadata.log");
