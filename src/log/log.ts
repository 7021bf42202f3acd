// The log: every partition's data, appended through the WAL and read back from memory chunks or segment files.
//
// Append is synchronous up to the WAL handoff: idempotence checks, offset assignment (baseOffset written into the
// batch in place), producer-state update. The returned promise resolves when the WAL group holding the batch is
// durable; the WAL listener then indexes the batch and moves the high watermark, before any waiter resumes. If the
// write fails, every partition touched goes back to its durable end (nextOffset = highWatermark).
//
// With an S3 tier (attachCold), reads go memory → WAL → S3: offsets the WAL index no longer holds are read from the
// cold store, asynchronously; everything else stays on the synchronous, copy-free path. Durable batches not yet in
// S3 count against the memory pool; when it is full the WAL holds new groups back (producers wait, nothing is
// dropped), and WAL segments are deleted only once every batch in them is in S3.
import type { Catalog, CatalogListener, TopicMeta } from "../meta/catalog.ts";
import type { MetaOwner, MetadataLog } from "../meta/metadata-log.ts";
import type { RawRecord } from "../meta/records.ts";
import { LOG_RECORD_TYPES, decodeLogRecord, type LogRecord } from "./records.ts";
import type { Logger } from "../logger.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { batchIsIntact, CorruptBatchError, decodeRecords, readBatchHeader, setBaseOffset, setLogAppendTime, setMaxTimestamp, setPartitionLeaderEpoch, type BatchHeader, type Record } from "../protocol/records.ts";
import { validateRecords, type RecordError } from "./validator.ts";
import { hasCleanupPolicy } from "../meta/topic-configs.ts";
import type { Uuid } from "../protocol/codec.ts";
import { Partition, TopicState } from "./partition.ts";
import type { ReplayedEntry, Wal, WalDamage, WalEntry, WalError, WalListener, WalSkip } from "../wal/wal.ts";
import { assessDamage, describeDamage, describeRange, refusal, type OffsetRange } from "./damage.ts";
import { ReplicationError, WalEntry as Entry } from "../wal/wal.ts";
import { parseEntry } from "../wal/entry.ts";
import { fetch, type FetchedPartition, type FetchSpec, type Readable } from "./read.ts";
import type { PageSink } from "../memory/pages.ts";

export type AppendOutcome =
  | { ok: true; baseOffset: number; logAppendTime: number; durable: Promise<void> }
  | { ok: false; code: number; message: string; recordErrors?: RecordError[] };

export interface OffsetAndTimestamp {
  offset: number;
  timestamp: number;
}

/** The S3 tier as the log sees it (implemented in src/s3/). */
export interface ColdStore {
  /** One past the last offset the cold store holds for p (0 when none). */
  end(p: Partition): number;
  /**
   * Batches from the first one whose last offset is >= offset, up to maxBytes (with minOne at least one), or null
   * when the cold store holds nothing at or after offset (compaction may have emptied the rest).
   */
  read(p: Partition, offset: number, maxBytes: number, minOne: boolean): Promise<{ records: Uint8Array[]; bytes: number } | null>;
  /** The first record at or after log start with timestamp >= ts in the cold store, or null. */
  offsetForTimestamp(p: Partition, ts: number): Promise<OffsetAndTimestamp | null>;
  /** Largest batch max timestamp the cold store holds for p, -1 when none (no I/O). */
  maxTimestamp(p: Partition): number;
}

/** A read the cold store could not serve (S3 unreachable, object unreadable); the handler maps it, clients retry. */
export class ColdReadError extends Error {
  override name = "ColdReadError";
}

/** A partition's first entry in the WAL, when offsets before it are not accounted for by the log start. */
interface Head {
  p: Partition;
  start: number;
  end: number;
  segment: number;
}

/** Kafka's producer.id.expiration.ms default. */
const PRODUCER_ID_TTL_MS = 86_400_000;
/**
 * Every partition's leader epoch: one broker, always the leader. In replicated mode too, across failovers: the new
 * primary holds the very log the old one served (every record a consumer could read there was acknowledged by the
 * standby, or the lease no longer listed it), so there is no truncation for a consumer's OffsetForLeaderEpoch check
 * to find, and one epoch keeps Metadata, Fetch, ListOffsets, committed offsets and the batches' stamps consistent.
 */
export const LEADER_EPOCH = 0;

export class Log implements CatalogListener, MetaOwner<LogRecord>, WalListener<Partition>, Readable {
  readonly types = LOG_RECORD_TYPES;
  private readonly topics = new Map<Uuid, TopicState>();
  private cold: ColdStore | null = null;
  private poolBytes = Infinity;
  private releasing = false;
  private readonly reportedCorrupt = new Set<string>();
  /** Damaged WAL ranges accepted as lost (records "wal-skip"): replay passes over them. */
  private readonly walSkips: WalSkip[] = [];
  /** Bytes of durable batches not yet in S3, over all partitions (0 without an S3 tier). */
  unflushedBytes = 0;
  /** Set at shutdown: long polls answer at once. */
  closing = false;

  constructor(
    private readonly catalog: Catalog,
    private readonly meta: MetadataLog,
    readonly wal: Wal<Partition>,
    readonly logger: Logger,
  ) {
    catalog.listen(this);
    meta.register(this);
    wal.setListener(this);
  }

  // --- lookups ---------------------------------------------------------------------------------------------

  topic(name: string): TopicState | undefined {
    const m = this.catalog.topic(name);
    return m ? this.topics.get(m.id) : undefined;
  }

  topicById(id: Uuid): TopicState | undefined {
    return this.topics.get(id);
  }

  partition(name: string, index: number): Partition | undefined {
    return this.topic(name)?.partitions[index];
  }

  *partitions(): IterableIterator<Partition> {
    for (const t of this.topics.values()) yield* t.partitions;
  }

  // --- the S3 tier -------------------------------------------------------------------------------------------

  /** Turns on tiering: reads below the WAL go to `cold`, and unflushed bytes are bounded by `poolBytes`. */
  attachCold(cold: ColdStore, poolBytes: number): void {
    this.cold = cold;
    this.poolBytes = poolBytes;
    this.wal.setGate(() => this.unflushedBytes < this.poolBytes);
  }

  /**
   * This node starts serving as the primary with what its log holds (after recovery, or after a standby's
   * replicated appends): S3 holds what the manifest says, and the back-pressure gate guards the memory pool again.
   */
  takeOver(): void {
    this.followFlushes();
    if (this.cold !== null) this.wal.setGate(() => this.unflushedBytes < this.poolBytes);
  }

  // --- a standby's log ---------------------------------------------------------------------------------------

  /**
   * A standby writes what the primary streams: WAL entries (entry.ts format) with the primary's sequence numbers,
   * offsets already assigned. Checked and indexed as WAL replay does (unknown topics, offsets below the log start or
   * already held are skipped). Resolves once they are durable here. No back-pressure gate: the primary's pool
   * already bounds what is unflushed, and a standby that held writes back would stall the primary's acknowledgements.
   */
  appendReplica(raw: Uint8Array, now = Date.now()): Promise<void> {
    this.wal.setGate(null);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    let last: Promise<void> = Promise.resolve();
    for (let pos = 0; pos < raw.length; ) {
      const e = parseEntry(raw, dv, pos);
      if (e === "end") break;
      if (e === "corrupt") return Promise.reject(new Error(`corrupt WAL entry from the primary at byte ${pos} of ${raw.length}`));
      pos = e.end;
      const p = this.topics.get(e.topicId)?.partitions[e.partition];
      if (!p || p.deleted) continue; // deleted since (the primary's metadata said so first)
      const batch = raw.subarray(e.batchPos, e.batchPos + e.batchSize);
      const h = readBatchHeader(batch);
      const lastOffset = e.baseOffset + h.lastOffsetDelta;
      if (lastOffset < p.logStartOffset || e.baseOffset < p.nextOffset) continue; // below the log start, or held already
      p.nextOffset = lastOffset + 1;
      if (h.producerId >= 0) p.producers.replay(h, e.baseOffset, now);
      last = this.wal.append(new Entry(p.topic.idBytes, p.id, e.baseOffset, batch, p), e.seq);
    }
    return last;
  }

  /**
   * A damaged entry the replication backfill met in this node's WAL, by what its header still says (unverified) and
   * where its batch is: "in-s3" when S3 holds all of its records (a standby reads them from there, as it does for
   * what the WAL released), or the batch from this node's intact copy in memory when the index holds that very entry
   * (same segment and position: the header is confirmed), else null (this node cannot give the standby those records).
   */
  damagedEntry(u: { topicId: string; partition: number; baseOffset: number; lastOffset: number }, segment: number, batchPos: number): "in-s3" | { topicId: Uint8Array; batch: Uint8Array } | null {
    const p = this.topics.get(u.topicId)?.partitions[u.partition];
    if (!p || p.deleted) return null;
    const idx = p.index;
    const slot = idx.find(u.baseOffset);
    const confirmed = slot >= 0 && idx.base[slot] === u.baseOffset && idx.seg[slot] === segment && idx.pos[slot] === batchPos;
    if (this.cold !== null && this.cold.end(p) > u.lastOffset) return "in-s3";
    if (!confirmed) return null;
    const copy = this.wal.cached(idx.chunk[slot]!, idx.pos[slot]!, idx.size[slot]!);
    return copy !== null && batchIsIntact(copy, 0, copy.length) ? { topicId: p.topic.idBytes, batch: copy } : null;
  }

  /** Offsets the manifest says are in S3 count as flushed (a standby follows the primary's flushes this way). */
  followFlushes(now = Date.now()): void {
    if (this.cold === null) return;
    for (const p of this.partitions()) {
      const end = Math.max(this.cold.end(p), p.logStartOffset);
      if (end <= p.flushedOffset) continue;
      const idx = p.index;
      let bytes = 0;
      for (let i = idx.find(p.flushedOffset); i >= 0 && i < idx.end && idx.base[i]! < end; i++) bytes += idx.size[i]!;
      this.markFlushed(p, end, bytes, now);
    }
  }

  /** Fraction of the memory pool taken by unflushed batches. */
  get poolUse(): number {
    return this.unflushedBytes / this.poolBytes;
  }

  /** The oldest unflushed batches of p (views of memory chunks or WAL reads), up to maxBytes but at least one. */
  unflushedBatches(p: Partition, maxBytes: number): { batches: Uint8Array[]; bytes: number; base: number; last: number } | null {
    const idx = p.index;
    let i = p.flushedOffset < p.highWatermark ? idx.find(p.flushedOffset) : -1;
    if (i < 0) return null;
    const batches: Uint8Array[] = [];
    let bytes = 0;
    const base = idx.base[i]!;
    let last = base;
    for (; i < idx.end && (bytes === 0 || bytes + idx.size[i]! <= maxBytes); i++) {
      batches.push(this.batchAt(p, i));
      bytes += idx.size[i]!;
      last = idx.last[i]!;
    }
    return { batches, bytes, base, last };
  }

  /** Offsets below `end` of p are now in S3 (their record is durable); `since` is when the batches were taken. */
  markFlushed(p: Partition, end: number, bytes: number, since: number): void {
    void bytes; // counted again from the index: DeleteRecords may have dropped some of them during the PUT
    if (end <= p.flushedOffset) return;
    p.flushedOffset = end;
    this.recountUnflushed(p);
    // Whatever is left arrived after the flush took its batches (or did not fit the object): age it from then.
    p.unflushedSince = p.unflushedBytes > 0 ? since : 0;
  }

  /** Deletes the WAL segments whose every batch is in S3; returns how many went. */
  async releaseFlushed(): Promise<number> {
    if (!this.cold || this.releasing) return 0;
    const limit = Math.min(this.oldestUnflushedSegment(), this.wal.currentSegment);
    const oldest = this.wal.oldestSegment;
    if (oldest === null || oldest >= limit) return 0;
    this.releasing = true;
    try {
      // Flushes only move forward meanwhile, so every segment below limit is still wholly in S3.
      await this.forgetSegmentsUpTo(limit - 1);
      return this.wal.deleteSegmentsBefore(limit);
    } finally {
      this.releasing = false;
    }
  }

  /** The WAL segment holding the oldest batch not yet in S3 (Infinity when everything is). */
  private oldestUnflushedSegment(): number {
    let min = Infinity;
    for (const p of this.partitions()) {
      if (p.deleted || p.flushedOffset >= p.highWatermark) continue;
      const i = p.index.find(p.flushedOffset);
      if (i >= 0 && p.index.seg[i]! < min) min = p.index.seg[i]!;
    }
    return min;
  }

  /**
   * The WAL segments up to `segment` are about to go and S3 holds all they have: idempotent producers' state lives
   * in the WAL until then, so it goes into the metadata log first; then the indexes let go of those segments.
   */
  private async forgetSegmentsUpTo(segment: number): Promise<void> {
    const recs: LogRecord[] = [];
    for (const t of this.topics.values()) {
      for (const p of t.partitions) {
        if (!p.index.hasSegmentUpTo(segment)) continue;
        const states = p.producers.snapshot(p.highWatermark);
        if (states.length) recs.push({ type: "producers", topic: t.meta.id, partition: p.id, states });
      }
    }
    if (recs.length) await this.meta.append(...recs);
    for (const p of this.partitions()) p.index.dropSegmentsUpTo(segment);
  }

  // --- appends ---------------------------------------------------------------------------------------------

  /**
   * Appends one validated batch (a view of the request bytes; offsets are written into it). Synchronous:
   * concurrent appends to a partition are ordered by arrival.
   */
  append(p: Partition, batch: Uint8Array, h: BatchHeader, acks: number, now: number): AppendOutcome {
    const t = p.topic;
    if (t.deleted) return { ok: false, code: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, message: `${p} was deleted` };
    if (batch.length > t.maxMessageBytes) {
      return { ok: false, code: ErrorCode.MESSAGE_TOO_LARGE, message: `The record batch of ${batch.length} bytes exceeds max.message.bytes ${t.maxMessageBytes} of ${t.meta.name}` };
    }
    if (acks === -1 && t.minInsyncReplicas > 1) {
      return { ok: false, code: ErrorCode.NOT_ENOUGH_REPLICAS, message: `min.insync.replicas ${t.minInsyncReplicas} of ${t.meta.name} cannot be met by a single broker` };
    }
    // Every record is checked before anything is decided about the batch (Kafka validates before its duplicate check).
    const checked = validateRecords(batch, h, t.rules, now, String(p));
    if (typeof checked !== "number") return { ok: false, ...checked };
    if (h.producerId >= 0) {
      if (h.attributes & 0x10) {
        return { ok: false, code: ErrorCode.INVALID_TXN_STATE, message: "transactional produce is not supported by this broker yet" };
      }
      const c = p.producers.check(h);
      if (c.kind === "error") return { ok: false, code: c.code, message: c.message };
      if (c.kind === "duplicate") {
        return { ok: true, baseOffset: c.batch.baseOffset, logAppendTime: -1, durable: c.batch.done ?? Promise.resolve() };
      }
    }
    const base = p.nextOffset;
    setBaseOffset(batch, base);
    setPartitionLeaderEpoch(batch, LEADER_EPOCH);
    let logAppendTime = -1;
    if (t.logAppendTime) {
      logAppendTime = now;
      setLogAppendTime(batch, now);
    } else if (checked !== h.maxTimestamp) {
      setMaxTimestamp(batch, checked); // Kafka corrects a wrong max timestamp rather than refusing the batch
    }
    p.nextOffset = base + h.lastOffsetDelta + 1;
    const durable = this.wal.append(new Entry(t.idBytes, p.id, base, batch, p));
    // A retry of this batch is a duplicate: it succeeds once the batch is in the log, even if its first
    // acknowledgement failed because the standby was detached meanwhile (ReplicationError).
    if (h.producerId >= 0) p.producers.record(h, base, durable.catch((e: Error) => { if (!(e instanceof ReplicationError)) throw e; }), now);
    return { ok: true, baseOffset: base, logAppendTime, durable };
  }

  // WalListener ---------------------------------------------------------------------------------------------

  durable(entries: WalEntry<Partition>[]): void {
    let touched: Partition[] | null = null;
    for (const e of entries) {
      const p = e.meta;
      if (p.deleted) continue;
      const b = e.batch;
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const last = e.baseOffset + dv.getInt32(23);
      const maxTs = dv.getInt32(35) * 4294967296 + dv.getUint32(39);
      p.index.push(e.baseOffset, last, maxTs, e.segment, e.pos, b.length, e.chunk);
      p.highWatermark = last + 1;
      if (this.cold !== null) {
        if (p.unflushedBytes === 0) p.unflushedSince = Date.now();
        p.unflushedBytes += b.length;
        this.unflushedBytes += b.length;
      }
      (touched ??= []).push(p);
    }
    if (touched) for (const p of touched) p.wake();
  }

  failed(entries: WalEntry<Partition>[], err: WalError): void {
    const parts = new Set(entries.map((e) => e.meta));
    for (const p of parts) {
      p.nextOffset = p.highWatermark;
      p.producers.rollback(p.highWatermark);
    }
    this.logger.warn(`log: ${entries.length} appends to ${parts.size} partitions failed (${err.message}); offsets rolled back`);
  }

  async dropping(segment: number): Promise<boolean> {
    if (this.cold) {
      // With S3, a segment goes only when all it holds is in S3; the log start stays where it is.
      if (segment >= this.oldestUnflushedSegment()) return false;
      await this.forgetSegmentsUpTo(segment);
      return true;
    }
    const recs: LogRecord[] = [];
    for (const t of this.topics.values()) {
      for (const p of t.partitions) {
        if (!p.index.hasSegmentUpTo(segment)) continue;
        let i = p.index.start;
        while (i < p.index.end && p.index.seg[i]! <= segment) i++;
        const start = i < p.index.end ? p.index.base[i]! : p.highWatermark;
        recs.push({ type: "log-start", topic: t.meta.id, partition: p.id, offset: start });
        const states = p.producers.snapshot(p.highWatermark);
        if (states.length) recs.push({ type: "producers", topic: t.meta.id, partition: p.id, states });
      }
    }
    if (recs.length) await this.meta.append(...recs);
    // Whatever arrived while the record was written may still sit in the segment: drop it too.
    for (const t of this.topics.values()) {
      for (const p of t.partitions) {
        const kept = p.index.dropSegmentsUpTo(segment);
        if (kept !== null && kept > p.logStartOffset) p.logStartOffset = kept;
      }
    }
    return true;
  }

  // --- reads -----------------------------------------------------------------------------------------------

  /**
   * A fetch: waits (long poll) for data or errors within the spec's max wait, then reads each partition into the
   * sink's pages within the limits (see read.ts). The records stay valid until the sink is released.
   */
  fetch(spec: FetchSpec, sink: PageSink): Promise<FetchedPartition[]> {
    return fetch(this, spec, sink);
  }

  /** Offsets below this are only in S3: under the first batch the WAL index still has, and flushed. */
  coldEnd(p: Partition): number {
    if (this.cold === null) return 0;
    const idx = p.index;
    return idx.length === 0 ? p.flushedOffset : Math.min(idx.base[idx.start]!, p.flushedOffset);
  }

  /** Batches only S3 holds (bodies of ranged GETs), or null when S3 holds nothing at or after offset any more. */
  readCold(p: Partition, offset: number, maxBytes: number, minOne: boolean): Promise<{ records: Uint8Array[]; bytes: number } | null> {
    return this.cold!.read(p, offset, maxBytes, minOne);
  }

  /** Bytes a fetch from offset would get, counted only up to `enough` (S3-only ranges count as enough). */
  available(p: Partition, offset: number, enough: number): number {
    if (offset >= p.highWatermark) return 0;
    if (offset < this.coldEnd(p) || (p.holes.length && p.holeAt(offset))) return enough;
    const idx = p.index;
    let n = 0;
    for (let i = idx.find(offset); i >= 0 && i < idx.end && n < enough; i++) n += idx.size[i]!;
    return n;
  }

  /** ListOffsets by timestamp: the first record with timestamp >= ts (Kafka's semantics), or null. */
  offsetForTimestamp(p: Partition, ts: number): OffsetAndTimestamp | null | Promise<OffsetAndTimestamp | null> {
    if (p.logStartOffset >= this.coldEnd(p)) return this.localOffsetForTimestamp(p, ts);
    // S3 covers everything from the log start up to what the WAL holds, so a hit there is the first one.
    return this.coldLookup(p, this.cold!.offsetForTimestamp(p, ts)).then((r) => r ?? this.localOffsetForTimestamp(p, ts));
  }

  /** A lookup in S3; a damaged batch it met is reported (once) like a local one. */
  private coldLookup<T>(p: Partition, lookup: Promise<T>): Promise<T> {
    return lookup.catch((e: unknown) => {
      if (e instanceof CorruptBatchError) this.reportCorrupt(p, e.offset, e.message);
      throw e;
    });
  }

  private localOffsetForTimestamp(p: Partition, ts: number): OffsetAndTimestamp | null {
    const idx = p.index;
    for (let i = idx.start; i < idx.end; i++) {
      if (idx.maxTs[i]! < ts) continue;
      for (const r of this.recordsAt(p, i)) {
        if (r.timestamp >= ts && r.offset >= p.logStartOffset) return { offset: r.offset, timestamp: r.timestamp };
      }
    }
    return null;
  }

  /** ListOffsets MAX_TIMESTAMP: the first record carrying the partition's largest timestamp, or null. */
  maxTimestamp(p: Partition): OffsetAndTimestamp | null | Promise<OffsetAndTimestamp | null> {
    const idx = p.index;
    let best = -1;
    for (let i = idx.start; i < idx.end; i++) if (best < 0 || idx.maxTs[i]! > idx.maxTs[best]!) best = i;
    const coldMax = this.cold?.maxTimestamp(p) ?? -1;
    if (coldMax >= 0 && (best < 0 || coldMax >= idx.maxTs[best]!)) {
      // The earliest record with that timestamp is in S3 (which covers every offset below the WAL's).
      return this.coldLookup(p, this.cold!.offsetForTimestamp(p, coldMax)).then((r) => r ?? this.localMaxTimestamp(p, best));
    }
    return this.localMaxTimestamp(p, best);
  }

  private localMaxTimestamp(p: Partition, best: number): OffsetAndTimestamp | null {
    if (best < 0) return null;
    const idx = p.index;
    const ts = idx.maxTs[best]!;
    for (const r of this.recordsAt(p, best)) if (r.timestamp === ts) return { offset: r.offset, timestamp: ts };
    return { offset: idx.last[best]!, timestamp: ts };
  }

  /** The records of a stored batch; a damaged one is reported once and fails the lookup (CorruptBatchError). */
  private recordsAt(p: Partition, slot: number): Record[] {
    try {
      return decodeRecords(this.batchAt(p, slot));
    } catch (e) {
      if (e instanceof CorruptBatchError) this.reportCorrupt(p, p.index.base[slot]!, e.message);
      throw e;
    }
  }

  /** Logs a damaged stored batch the first time a reader meets it. */
  reportCorrupt(p: Partition, base: number, message: string): void {
    const id = `${p.topic.meta.id}/${p.id}@${base}`;
    if (this.reportedCorrupt.has(id)) return;
    this.reportedCorrupt.add(id);
    this.logger.error(`${p}: stored batch at offset ${base} cannot be read (${message}); requests that need it get CORRUPT_MESSAGE`);
  }

  private batchAt(p: Partition, slot: number): Uint8Array {
    const idx = p.index;
    return this.wal.read(idx.seg[slot]!, idx.pos[slot]!, idx.size[slot]!, idx.chunk[slot]!);
  }

  // --- what admin APIs report and change (DeleteRecords, ListOffsets -4/-5, OffsetForLeaderEpoch, DescribeLogDirs) ---

  /**
   * DeleteRecords: moves p's log start to `offset` (-1: the high watermark), as Kafka's deleteRecordsOnLeader does.
   * Fetch and ListOffsets follow once the record is durable; S3 objects wholly below it go at the next retention
   * check. Resolves with the log start after the move (a lower offset than the current start changes nothing).
   */
  async deleteRecords(p: Partition, offset: number): Promise<{ ok: true; lowWatermark: number } | { ok: false; code: number; message: string }> {
    if (!hasCleanupPolicy(p.topic.meta.configs, "delete")) {
      return { ok: false, code: ErrorCode.POLICY_VIOLATION, message: `Records of partition ${p} can not be deleted due to the configured policy` };
    }
    const target = offset === -1 ? p.highWatermark : offset;
    if (target < 0) return { ok: false, code: ErrorCode.OFFSET_OUT_OF_RANGE, message: `The offset ${target} for partition ${p} is not valid` };
    if (target > p.highWatermark) {
      return { ok: false, code: ErrorCode.OFFSET_OUT_OF_RANGE, message: `Cannot increment the log start offset to ${target} of partition ${p} since it is larger than the high watermark ${p.highWatermark}` };
    }
    // Other requests interleave while the record is written; the start only ever moves forward.
    if (target > p.logStartOffset) await this.meta.append({ type: "log-start", topic: p.topic.meta.id, partition: p.id, offset: target });
    return { ok: true, lowWatermark: p.logStartOffset };
  }

  /** The first offset this node's disk holds for p (ListOffsets earliest-local, -4); below it, only S3 has the data. */
  localLogStart(p: Partition): number {
    const idx = p.index;
    return idx.length === 0 ? p.highWatermark : Math.max(p.logStartOffset, idx.base[idx.start]!);
  }

  /** The highest offset S3 holds for p (ListOffsets latest-tiered, -5; KIP-1005), -1 when none or without S3. */
  lastTieredOffset(p: Partition): number {
    return this.cold === null ? -1 : this.cold.end(p) - 1;
  }

  /** Bytes of p's batches on this node's disk (DescribeLogDirs). */
  localBytes(p: Partition): number {
    const idx = p.index;
    let n = 0;
    for (let i = idx.start; i < idx.end; i++) n += idx.size[i]!;
    return n;
  }

  /**
   * OffsetForLeaderEpoch (Kafka's LeaderEpochFileCache.endOffsetFor): every batch was written in epoch LEADER_EPOCH,
   * so that epoch ends at the high watermark; a later epoch is unknown, -1 asks for nothing.
   */
  endOffsetForEpoch(p: Partition, epoch: number): { leaderEpoch: number; endOffset: number } {
    if (epoch === LEADER_EPOCH) return { leaderEpoch: LEADER_EPOCH, endOffset: p.highWatermark };
    if (epoch < LEADER_EPOCH && epoch !== -1) return { leaderEpoch: epoch, endOffset: p.logStartOffset };
    return { leaderEpoch: -1, endOffset: -1 };
  }

  // --- start-up --------------------------------------------------------------------------------------------

  /** Rebuilds indexes, offsets and producer state from the WAL (after the metadata log was replayed). */
  async replayWal(opts: { acceptDataLoss?: boolean } = {}): Promise<{ entries: number; segments: number; truncatedBytes: number; cleanShutdown: boolean }> {
    const gaps: OffsetRange[] = [];
    const heads: Head[] = [];
    const stats = await this.wal.replay((e) => this.replayEntry(e, gaps, heads), this.walSkips);
    const now = Date.now();
    for (const p of this.partitions()) {
      if (p.nextOffset < p.logStartOffset) p.nextOffset = p.logStartOffset;
      if (this.cold !== null) {
        // S3 may hold more than the WAL (its segments went once flushed): offsets continue after both.
        p.flushedOffset = Math.max(this.cold.end(p), p.logStartOffset);
        if (p.nextOffset < p.flushedOffset) p.nextOffset = p.flushedOffset;
        const idx = p.index;
        // A WAL that ends below what S3 holds (a standby that missed what the primary flushed meanwhile) would leave
        // a gap in the index: S3 serves everything below its end instead.
        if (idx.length > 0 && idx.last[idx.end - 1]! + 1 < p.flushedOffset) idx.dropBefore(p.flushedOffset);
        for (let i = idx.find(p.flushedOffset); i >= 0 && i < idx.end; i++) p.unflushedBytes += idx.size[i]!;
        this.unflushedBytes += p.unflushedBytes;
        p.unflushedSince = p.unflushedBytes > 0 ? now : 0;
      }
    }
    const damages = this.missingSegments(stats.damages, gaps, heads);
    if (damages.length) await this.recoverDamage(damages, gaps, opts.acceptDataLoss ?? false);
    else for (const g of gaps) this.logger.warn(`WAL replay: ${this.topics.get(g.topic)?.partitions[g.partition]} has no batch for offsets ${g.start}-${g.end}, though no damage was found`);
    for (const p of this.partitions()) {
      // Lost offsets were acknowledged once: new records never get them again.
      for (const h of p.holes) if (h.lost && p.nextOffset <= h.end) p.nextOffset = h.end + 1;
      p.highWatermark = p.nextOffset;
    }
    return stats;
  }

  private replayEntry(e: ReplayedEntry, gaps: OffsetRange[], heads: Head[]): void {
    const p = this.topics.get(e.topicId)?.partitions[e.partition];
    if (!p) return; // topic deleted since
    const h = readBatchHeader(e.batch);
    const last = e.baseOffset + h.lastOffsetDelta;
    if (last < p.logStartOffset) return;
    // DeleteRecords may have put the log start inside a batch: that batch starts below it and is the first one kept.
    const holdsLogStart = p.index.length === 0 && e.baseOffset < p.logStartOffset;
    if (e.baseOffset < p.nextOffset && !holdsLogStart) {
      this.logger.warn(`WAL replay: ${p} batch at ${e.baseOffset} overlaps offsets up to ${p.nextOffset - 1}; skipped`);
      return;
    }
    // Consecutive entries of a partition follow each other; a gap between two is what damage in between took.
    if (p.index.length > 0 && e.baseOffset > p.nextOffset && !p.holeAt(p.nextOffset)) gaps.push({ topic: e.topicId, partition: e.partition, start: p.nextOffset, end: e.baseOffset - 1 });
    // Before the first entry: the log start, or S3, or a segment that went (on purpose, or missing).
    if (p.index.length === 0 && e.baseOffset > p.nextOffset && !holdsLogStart && !p.holeAt(p.nextOffset)) heads.push({ p, start: p.nextOffset, end: e.baseOffset - 1, segment: e.segment });
    p.index.push(e.baseOffset, last, h.maxTimestamp, e.segment, e.pos, e.batch.length, -1);
    p.nextOffset = last + 1;
    if (h.producerId >= 0) p.producers.replay(h, e.baseOffset, Date.now());
  }

  /**
   * Missing WAL segment files (wal/recovery.ts) as damage: the partitions whose first entry comes after one lost
   * what lies between their log start (or S3's end) and that entry, as a gap; those with no entry after it, from
   * their last offset on (damage.ts). A segment only the oldest one left names may have gone on purpose (with S3 once
   * flushed, or by --wal-max-disk-size after the log start moved past it): it is damage only where a partition's
   * first entry does not follow on from its log start or S3. Returns the damages to assess.
   */
  private missingSegments(damages: WalDamage[], gaps: OffsetRange[], heads: Head[]): WalDamage[] {
    const out: WalDamage[] = [];
    for (const d of damages) {
      if (!d.missing) {
        out.push(d);
        continue;
      }
      let found = false;
      for (const h of heads) {
        if (h.segment <= d.segment) continue;
        const start = Math.max(h.start, h.p.logStartOffset, this.cold !== null ? this.cold.end(h.p) : 0);
        if (start > h.end) continue;
        gaps.push({ topic: h.p.topic.meta.id, partition: h.p.id, start, end: h.end });
        found = true;
      }
      heads.splice(0, heads.length, ...heads.filter((h) => h.segment <= d.segment)); // one gap per partition
      if (d.missing.belowOldest && (this.cold !== null || this.wal.dropsOldest)) {
        if (!found) continue; // deleted on purpose: every partition follows on from its log start or S3
        d.entries = []; // what it held is known from the gaps: the partitions with nothing after it lost nothing
      }
      out.push(d);
    }
    return out;
  }

  /**
   * Corruption found by replay (log/damage.ts): works out the offsets each damaged range held, serves what S3
   * holds from there, and for the rest refuses to start (DataLossError) or, with --accept-data-loss, records them
   * as lost and continues offsets after them.
   */
  private async recoverDamage(damages: WalDamage[], gaps: OffsetRange[], accept: boolean): Promise<void> {
    const name = (topic: string) => this.topics.get(topic)?.meta.name ?? topic;
    const { restored, lost, describe } = assessDamage(damages, gaps, {
      partition: (topic, id) => this.topics.get(topic)?.partitions[id],
      partitions: () => this.partitions(),
      inS3: (p) => (this.cold !== null ? this.cold.end(p) : 0),
      name,
    });
    for (const r of restored) {
      this.topics.get(r.topic)!.partitions[r.partition]!.addHole({ start: r.start, end: r.end, lost: false });
      this.logger.warn(`WAL corruption: ${describeRange(r, name)} are damaged in the WAL; the S3 tier holds them, reads are served from there`);
    }
    if (lost.length === 0) {
      const why = restored.length ? "every affected record is in S3" : "it held no record that still exists (below the log start, or of a deleted topic)";
      this.logger.warn(`WAL corruption at ${damages.map(describeDamage).join("; ")}: ${why}; nothing lost`);
      return;
    }
    if (!accept) throw refusal(damages, lost.map(describe), this.cold !== null);
    const recs: LogRecord[] = [];
    for (const r of lost) {
      this.logger.error(`DATA LOSS (--accept-data-loss): ${describe(r)} are marked lost; consumers reading them get CORRUPT_MESSAGE, new records continue after them`);
      recs.push({ type: "lost", topic: r.topic, partition: r.partition, start: r.start, end: r.end });
    }
    for (const d of damages) {
      this.logger.error(`DATA LOSS (--accept-data-loss): ${describeDamage(d)} passed over from now on`);
      recs.push({ type: "wal-skip", segment: d.segment, from: d.from, to: d.to });
    }
    await this.meta.append(...recs); // applied once durable: the holes, and offsets moved past them
    this.wal.forgetMissing(damages.filter((d) => d.missing).map((d) => d.segment));
  }

  /** Wakes every waiting fetch, which answers at once from now on (shutdown). */
  wakeAll(): void {
    this.closing = true;
    for (const t of this.topics.values()) for (const p of t.partitions) p.wake();
  }

  expireProducers(now = Date.now()): void {
    for (const t of this.topics.values()) for (const p of t.partitions) p.producers.expire(now, PRODUCER_ID_TTL_MS);
  }

  // --- CatalogListener -------------------------------------------------------------------------------------

  topicCreated(m: TopicMeta): void {
    this.topics.set(m.id, new TopicState(m));
  }

  topicDeleted(m: TopicMeta): void {
    const t = this.topics.get(m.id);
    if (!t) return;
    t.deleted = true;
    this.topics.delete(m.id);
    for (const p of t.partitions) {
      this.unflushedBytes -= p.unflushedBytes; // never flushed now: give the pool back
      p.unflushedBytes = 0;
      p.wake();
    }
    this.wal.resume();
  }

  partitionsAdded(m: TopicMeta): void {
    this.topics.get(m.id)?.grow(m.partitions);
  }

  configsChanged(m: TopicMeta): void {
    this.topics.get(m.id)?.refresh();
  }

  // --- MetaOwner -------------------------------------------------------------------------------------------

  decode(raw: RawRecord): LogRecord {
    return decodeLogRecord(raw);
  }

  apply(rec: LogRecord): void {
    if (rec.type === "wal-skip") {
      this.walSkips.push({ segment: rec.segment, from: rec.from, to: rec.to });
      return;
    }
    const p = this.topics.get(rec.topic)?.partitions[rec.partition];
    if (!p) return;
    if (rec.type === "lost") {
      p.addHole({ start: rec.start, end: rec.end, lost: true }); // offsets continue after it (replayWal)
    } else if (rec.type === "log-start") {
      const offset = rec.offset;
      if (offset <= p.logStartOffset) return;
      p.logStartOffset = offset;
      p.index.dropBefore(offset);
      p.holes = p.holes.filter((h) => h.end >= offset);
      if (p.flushedOffset < offset) p.flushedOffset = offset;
      if (p.nextOffset < offset) p.nextOffset = offset;
      if (p.highWatermark < offset) p.highWatermark = offset;
      if (this.cold !== null && p.unflushedBytes > 0) this.recountUnflushed(p); // DeleteRecords may drop unflushed data
    } else if (rec.type === "producers") {
      p.producers.restore(rec.states);
    }
  }

  /** Unflushed bytes of p after batches left its index without going to S3 (the log start moved past them). */
  private recountUnflushed(p: Partition): void {
    const idx = p.index;
    let n = 0;
    for (let i = idx.find(p.flushedOffset); i >= 0 && i < idx.end; i++) n += idx.size[i]!;
    this.unflushedBytes -= p.unflushedBytes - n;
    p.unflushedBytes = n;
    if (n === 0) p.unflushedSince = 0;
    this.wal.resume();
  }

  snapshot(): LogRecord[] {
    const recs: LogRecord[] = [];
    for (const t of this.topics.values()) {
      for (const p of t.partitions) {
        if (p.logStartOffset > 0) recs.push({ type: "log-start", topic: t.meta.id, partition: p.id, offset: p.logStartOffset });
        const states = p.producers.snapshot(p.highWatermark);
        if (states.length) recs.push({ type: "producers", topic: t.meta.id, partition: p.id, states });
        for (const h of p.holes) if (h.lost) recs.push({ type: "lost", topic: t.meta.id, partition: p.id, start: h.start, end: h.end });
      }
    }
    const oldest = this.wal.oldestSegment ?? 0;
    for (const k of this.walSkips) if (k.segment >= oldest) recs.push({ type: "wal-skip", ...k });
    return recs;
  }
}
