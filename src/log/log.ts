// The log: every partition's data, appended through the WAL and read back from memory chunks or segment files.
//
// Append is synchronous up to the WAL handoff: idempotence checks, offset assignment (baseOffset written into the
// batch in place), producer-state update. The returned promise resolves when the WAL group holding the batch is
// durable; the WAL listener then indexes the batch and moves the high watermark, before any waiter resumes. If the
// write fails, every partition touched goes back to its durable end (nextOffset = highWatermark).
import type { Catalog, CatalogListener, TopicMeta } from "../meta/catalog.ts";
import type { MetaOwner, MetaRecord, MetadataLog } from "../meta/metadata-log.ts";
import type { Logger } from "../logger.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { decodeRecords, readBatchHeader, setBaseOffset, setLogAppendTime, setPartitionLeaderEpoch, type BatchHeader } from "../protocol/records.ts";
import type { Uuid } from "../protocol/codec.ts";
import { Partition, TopicState } from "./partition.ts";
import type { ReplayedEntry, Wal, WalEntry, WalError, WalListener } from "../wal/wal.ts";
import { WalEntry as Entry } from "../wal/wal.ts";

export type AppendOutcome =
  | { ok: true; baseOffset: number; logAppendTime: number; durable: Promise<void> }
  | { ok: false; code: number; message: string };

export interface ReadOutcome {
  code: number;
  records: Uint8Array[];
  bytes: number;
}

export interface OffsetAndTimestamp {
  offset: number;
  timestamp: number;
}

/** Kafka's producer.id.expiration.ms default. */
const PRODUCER_ID_TTL_MS = 86_400_000;
/** Every partition's leader epoch: one broker, always the leader. */
export const LEADER_EPOCH = 0;

export class Log implements CatalogListener, MetaOwner, WalListener<Partition> {
  readonly types = ["log-start", "producers"] as const;
  private readonly topics = new Map<Uuid, TopicState>();

  constructor(
    private readonly catalog: Catalog,
    private readonly meta: MetadataLog,
    private readonly wal: Wal<Partition>,
    private readonly logger: Logger,
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
    }
    p.nextOffset = base + h.lastOffsetDelta + 1;
    const durable = this.wal.append(new Entry(t.idBytes, p.id, base, batch, p));
    if (h.producerId >= 0) p.producers.record(h, base, durable, now);
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

  async dropping(segment: number): Promise<void> {
    const recs: MetaRecord[] = [];
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
  }

  // --- reads -----------------------------------------------------------------------------------------------

  /**
   * Batches from `offset` on, up to maxBytes; with minOne the first batch is returned even when larger (KIP-74).
   * Views of memory chunks where cached, else read from the WAL.
   */
  read(p: Partition, offset: number, maxBytes: number, minOne: boolean): ReadOutcome {
    if (offset < p.logStartOffset || offset > p.highWatermark) return { code: ErrorCode.OFFSET_OUT_OF_RANGE, records: [], bytes: 0 };
    const records: Uint8Array[] = [];
    let bytes = 0;
    const idx = p.index;
    let i = offset < p.highWatermark ? idx.find(offset) : -1;
    if (i < 0) return { code: 0, records, bytes };
    for (; i < idx.end; i++) {
      const size = idx.size[i]!;
      if (bytes + size > maxBytes && !(minOne && records.length === 0)) break;
      records.push(this.wal.read(idx.seg[i]!, idx.pos[i]!, size, idx.chunk[i]!));
      bytes += size;
      if (bytes >= maxBytes) break;
    }
    return { code: 0, records, bytes };
  }

  /** ListOffsets by timestamp: the first record with timestamp >= ts (Kafka's semantics), or null. */
  offsetForTimestamp(p: Partition, ts: number): OffsetAndTimestamp | null {
    const idx = p.index;
    for (let i = idx.start; i < idx.end; i++) {
      if (idx.maxTs[i]! < ts) continue;
      for (const r of decodeRecords(this.batchAt(p, i))) {
        if (r.timestamp >= ts && r.offset >= p.logStartOffset) return { offset: r.offset, timestamp: r.timestamp };
      }
    }
    return null;
  }

  /** ListOffsets MAX_TIMESTAMP: the first record carrying the partition's largest timestamp, or null. */
  maxTimestamp(p: Partition): OffsetAndTimestamp | null {
    const idx = p.index;
    let best = -1;
    for (let i = idx.start; i < idx.end; i++) if (best < 0 || idx.maxTs[i]! > idx.maxTs[best]!) best = i;
    if (best < 0) return null;
    const ts = idx.maxTs[best]!;
    for (const r of decodeRecords(this.batchAt(p, best))) if (r.timestamp === ts) return { offset: r.offset, timestamp: ts };
    return { offset: idx.last[best]!, timestamp: ts };
  }

  private batchAt(p: Partition, slot: number): Uint8Array {
    const idx = p.index;
    return this.wal.read(idx.seg[slot]!, idx.pos[slot]!, idx.size[slot]!, idx.chunk[slot]!);
  }

  // --- start-up --------------------------------------------------------------------------------------------

  /** Rebuilds indexes, offsets and producer state from the WAL (after the metadata log was replayed). */
  async replayWal(): Promise<{ entries: number; segments: number; truncatedBytes: number }> {
    const stats = await this.wal.replay((e) => this.replayEntry(e));
    for (const t of this.topics.values()) {
      for (const p of t.partitions) {
        if (p.nextOffset < p.logStartOffset) p.nextOffset = p.logStartOffset;
        p.highWatermark = p.nextOffset;
      }
    }
    return stats;
  }

  private replayEntry(e: ReplayedEntry): void {
    const p = this.topics.get(e.topicId)?.partitions[e.partition];
    if (!p) return; // topic deleted since
    const h = readBatchHeader(e.batch);
    const last = e.baseOffset + h.lastOffsetDelta;
    if (last < p.logStartOffset) return;
    if (e.baseOffset < p.nextOffset) {
      this.logger.warn(`WAL replay: ${p} batch at ${e.baseOffset} overlaps offsets up to ${p.nextOffset - 1}; skipped`);
      return;
    }
    p.index.push(e.baseOffset, last, h.maxTimestamp, e.segment, e.pos, e.batch.length, -1);
    p.nextOffset = last + 1;
    if (h.producerId >= 0) p.producers.replay(h, e.baseOffset, Date.now());
  }

  /** Wakes every waiting fetch (shutdown). */
  wakeAll(): void {
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
    for (const p of t.partitions) p.wake();
  }

  partitionsAdded(m: TopicMeta): void {
    this.topics.get(m.id)?.grow(m.partitions);
  }

  configsChanged(m: TopicMeta): void {
    this.topics.get(m.id)?.refresh();
  }

  // --- MetaOwner -------------------------------------------------------------------------------------------

  apply(rec: MetaRecord): void {
    const p = this.topics.get(rec.topic as Uuid)?.partitions[rec.partition as number];
    if (!p) return;
    if (rec.type === "log-start") {
      const offset = rec.offset as number;
      if (offset <= p.logStartOffset) return;
      p.logStartOffset = offset;
      p.index.dropBefore(offset);
      if (p.nextOffset < offset) p.nextOffset = offset;
      if (p.highWatermark < offset) p.highWatermark = offset;
    } else if (rec.type === "producers") {
      p.producers.restore(rec.states as unknown[]);
    }
  }

  snapshot(): MetaRecord[] {
    const recs: MetaRecord[] = [];
    for (const t of this.topics.values()) {
      for (const p of t.partitions) {
        if (p.logStartOffset > 0) recs.push({ type: "log-start", topic: t.meta.id, partition: p.id, offset: p.logStartOffset });
        const states = p.producers.snapshot(p.highWatermark);
        if (states.length) recs.push({ type: "producers", topic: t.meta.id, partition: p.id, states });
      }
    }
    return recs;
  }
}
