// Idempotent-producer state of one partition, with Apache Kafka's rules (ProducerStateManager):
// per producer id the current epoch and the last five batches (first/last sequence, offsets). A retried batch that
// matches one of them is a duplicate and gets its original offset; an older epoch is fenced
// (INVALID_PRODUCER_EPOCH); a new epoch must start at sequence 0 and otherwise a sequence must follow the last one
// (OUT_OF_ORDER_SEQUENCE_NUMBER). A producer the partition has no state for may start at any sequence.
// Batches are recorded when appended (so pipelined requests check against each other) and forgotten again if
// their WAL write fails.
import { ErrorCode } from "../protocol/errors.ts";
import type { BatchHeader } from "../protocol/records.ts";

const KEEP = 5;
const INT32_MAX = 2147483647;

export interface ProducerBatch {
  firstSeq: number;
  lastSeq: number;
  baseOffset: number;
  lastOffset: number;
  /** Resolves when the batch is durable (a duplicate answers only then); null for batches replayed or restored. */
  done: Promise<void> | null;
}

export interface ProducerEntry {
  epoch: number;
  batches: ProducerBatch[];
  /** Wall-clock ms of the last append, for expiry. */
  lastAppend: number;
}

/** One producer in a "producers" metadata record: [pid, epoch, lastAppend, [[firstSeq, lastSeq, baseOffset, lastOffset]...]]. */
export type ProducerSnapshot = [pid: number, epoch: number, lastAppend: number, batches: [firstSeq: number, lastSeq: number, baseOffset: number, lastOffset: number][]];

export type SequenceCheck =
  | { kind: "new" }
  | { kind: "duplicate"; batch: ProducerBatch }
  | { kind: "error"; code: number; message: string };

/** Last sequence of a batch, wrapping at int32 max like Kafka's DefaultRecordBatch.incrementSequence. */
export function lastSequence(baseSeq: number, lastOffsetDelta: number): number {
  return baseSeq > INT32_MAX - lastOffsetDelta ? lastOffsetDelta - (INT32_MAX - baseSeq) - 1 : baseSeq + lastOffsetDelta;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

export class ProducerStates {
  readonly producers = new Map<number, ProducerEntry>();

  check(h: BatchHeader): SequenceCheck {
    const e = this.producers.get(h.producerId);
    if (!e) return { kind: "new" };
    if (h.producerEpoch < e.epoch) {
      return { kind: "error", code: ErrorCode.INVALID_PRODUCER_EPOCH, message: `Epoch of producer ${h.producerId} is ${h.producerEpoch}, which is smaller than the last seen epoch ${e.epoch}` };
    }
    const lastSeq = lastSequence(h.baseSequence, h.lastOffsetDelta);
    if (h.producerEpoch === e.epoch) {
      for (const b of e.batches) {
        if (b.firstSeq === h.baseSequence && b.lastSeq === lastSeq) return { kind: "duplicate", batch: b };
      }
    }
    if (h.producerEpoch > e.epoch) {
      if (h.baseSequence !== 0) {
        return { kind: "error", code: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, message: `Invalid sequence number for new epoch of producer ${h.producerId}: ${h.producerEpoch} (request epoch), ${h.baseSequence} (seq. number), ${e.epoch} (current producer epoch)` };
      }
      return { kind: "new" };
    }
    const tail = e.batches[e.batches.length - 1];
    if (tail && !inSequence(tail.lastSeq, h.baseSequence)) {
      return { kind: "error", code: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, message: `Out of order sequence number for producer ${h.producerId} at offset ${tail.lastOffset + 1}: ${h.baseSequence} (incoming seq. number), ${tail.lastSeq} (current end sequence number)` };
    }
    return { kind: "new" };
  }

  record(h: BatchHeader, baseOffset: number, done: Promise<void> | null, now: number): void {
    let e = this.producers.get(h.producerId);
    if (!e) {
      e = { epoch: h.producerEpoch, batches: [], lastAppend: now };
      this.producers.set(h.producerId, e);
    }
    if (h.producerEpoch > e.epoch) {
      e.epoch = h.producerEpoch;
      e.batches = [];
    }
    e.batches.push({
      firstSeq: h.baseSequence,
      lastSeq: lastSequence(h.baseSequence, h.lastOffsetDelta),
      baseOffset,
      lastOffset: baseOffset + h.lastOffsetDelta,
      done,
    });
    if (e.batches.length > KEEP) e.batches.shift();
    e.lastAppend = now;
  }

  /** Applies a batch found on WAL replay, unless a snapshot already covers it. */
  replay(h: BatchHeader, baseOffset: number, timestamp: number): void {
    const e = this.producers.get(h.producerId);
    if (e) {
      const tail = e.batches[e.batches.length - 1];
      if (tail && baseOffset <= tail.lastOffset) return;
    }
    this.record(h, baseOffset, null, timestamp);
  }

  /** Forgets batches at or beyond offset (their WAL write failed). */
  rollback(offset: number): void {
    for (const [pid, e] of this.producers) {
      e.batches = e.batches.filter((b) => b.baseOffset < offset);
      if (e.batches.length === 0) this.producers.delete(pid);
    }
  }

  /** Drops producers idle for longer than ttlMs (Kafka's producer.id.expiration.ms). */
  expire(now: number, ttlMs: number): void {
    for (const [pid, e] of this.producers) if (now - e.lastAppend > ttlMs) this.producers.delete(pid);
  }

  /**
   * Compact form for the metadata log, durable batches only (below the high watermark):
   * [pid, epoch, lastAppend, [[firstSeq, lastSeq, baseOffset, lastOffset]...]].
   */
  snapshot(highWatermark: number): ProducerSnapshot[] {
    const out: ProducerSnapshot[] = [];
    for (const [pid, e] of this.producers) {
      const durable = e.batches.filter((b) => b.lastOffset < highWatermark);
      if (durable.length) out.push([pid, e.epoch, e.lastAppend, durable.map((b) => [b.firstSeq, b.lastSeq, b.baseOffset, b.lastOffset])]);
    }
    return out;
  }

  restore(snap: ProducerSnapshot[]): void {
    for (const [pid, epoch, lastAppend, batches] of snap) {
      const cur = this.producers.get(pid);
      if (cur && cur.epoch > epoch) continue;
      this.producers.set(pid, {
        epoch,
        lastAppend,
        batches: batches.map(([firstSeq, lastSeq, baseOffset, lastOffset]) => ({ firstSeq, lastSeq, baseOffset, lastOffset, done: null })),
      });
    }
  }
}
