// Record batches (magic 2) as views of the bytes they arrived in. The broker validates the header and the CRC,
// writes baseOffset and partitionLeaderEpoch in place (both lie before the CRC'd range), and only for
// LogAppendTime topics rewrites attributes + maxTimestamp and the CRC. Records are decoded only where the broker
// must look inside (ListOffsets by timestamp, compaction) and by our own clients.
//
// Header layout (big-endian): 0 baseOffset i64 | 8 batchLength i32 | 12 partitionLeaderEpoch i32 | 16 magic i8 |
// 17 crc u32 (CRC-32C of bytes 21..end) | 21 attributes i16 | 23 lastOffsetDelta i32 | 27 baseTimestamp i64 |
// 35 maxTimestamp i64 | 43 producerId i64 | 51 producerEpoch i16 | 53 baseSequence i32 | 57 recordsCount i32 | 61 records
import { DecodeError, Reader, Writer } from "./codec.ts";
import { CompressionError, compress, decompress } from "./compression.ts";
import { crc32c } from "./crc32c.ts";
import { ErrorCode } from "./errors.ts";

export const BATCH_HEADER_SIZE = 61;
const CRC_START = 21;
/** Largest body a compressed batch may decompress to: bounds the memory and time one batch can cost to look into. */
export const MAX_DECOMPRESSED_BATCH_BYTES = 64 * 1024 * 1024;

/** A stored batch whose records cannot be read (a reader of stored data logs it and answers with an error). */
export class CorruptBatchError extends Error {
  override name = "CorruptBatchError";
  constructor(
    message: string,
    /** Base offset of the batch. */
    readonly offset: number,
  ) {
    super(message);
  }
}

/** Runs a reader of a batch's records, turning what bad bytes cause into a CorruptBatchError. */
function guarded<T>(b: Uint8Array, pos: number, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof DecodeError || e instanceof CompressionError) {
      throw new CorruptBatchError(`record batch at offset ${batchBaseOffset(b, pos)} is corrupt: ${e.message}`, batchBaseOffset(b, pos));
    }
    throw e;
  }
}

/** The records of a batch after decompression (bounded), checked for a count the bytes can hold. */
function recordsBody(b: Uint8Array, pos: number, attributes: number, size: number, count: number): Uint8Array {
  if (size < BATCH_HEADER_SIZE || pos + size > b.length) throw new DecodeError(`batch of ${size} bytes does not fit the ${b.length - pos} bytes there`);
  const body = decompress(attributes & Attr.compressionMask, b.subarray(pos + BATCH_HEADER_SIZE, pos + size), MAX_DECOMPRESSED_BATCH_BYTES);
  if (count < 0 || count > body.length) throw new DecodeError(`batch claims ${count} records in ${body.length} bytes`);
  return body;
}

export const Attr = {
  compressionMask: 0x07,
  logAppendTime: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
} as const;

export interface BatchHeader {
  /** Total bytes of the batch (batchLength + 12). */
  size: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function i64(dv: DataView, pos: number): number {
  return dv.getInt32(pos) * 4294967296 + dv.getUint32(pos + 4);
}

function setI64(dv: DataView, pos: number, v: number): void {
  dv.setInt32(pos, Math.floor(v / 4294967296));
  dv.setUint32(pos + 4, v >>> 0);
}

/** Parses the header of the batch at b[pos]; the caller has checked that 61 bytes are there. */
export function readBatchHeader(b: Uint8Array, pos = 0): BatchHeader {
  const dv = view(b);
  return {
    size: dv.getInt32(pos + 8) + 12,
    attributes: dv.getInt16(pos + 21),
    lastOffsetDelta: dv.getInt32(pos + 23),
    baseTimestamp: i64(dv, pos + 27),
    maxTimestamp: i64(dv, pos + 35),
    producerId: i64(dv, pos + 43),
    producerEpoch: dv.getInt16(pos + 51),
    baseSequence: dv.getInt32(pos + 53),
    recordsCount: dv.getInt32(pos + 57),
  };
}

export function batchBaseOffset(b: Uint8Array, pos = 0): number {
  return i64(view(b), pos);
}

export type BatchCheck =
  | { ok: true; header: BatchHeader }
  | { ok: false; code: number; message: string };

/**
 * Validates the records of one partition in a produce request (v3+): exactly one magic-2 batch, consistent
 * lengths and counts, a matching CRC, not a control batch. Error codes are the ones Apache Kafka answers with.
 */
export function checkProducedBatch(records: Uint8Array | null, produceVersion: number): BatchCheck {
  const bad = (code: number, message: string): BatchCheck => ({ ok: false, code, message });
  if (records === null || records.length === 0) {
    return bad(ErrorCode.INVALID_RECORD, `Produce requests with version ${produceVersion} must have at least one record batch per partition`);
  }
  if (records.length < 17) return bad(ErrorCode.CORRUPT_MESSAGE, `record batch of ${records.length} bytes is truncated`);
  const dv = view(records);
  const magic = dv.getInt8(16);
  if (magic !== 2 && produceVersion < 3) {
    // Old clients (Produce v0-2) with message format v0/v1: klite stores magic 2 only and never converts.
    return bad(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT, `klite stores only record batches with magic version 2; this message set has magic ${magic}: use a client that writes message format v2 (Kafka 0.11+ clients)`);
  }
  if (magic !== 2) {
    return bad(ErrorCode.INVALID_RECORD, `Produce requests with version ${produceVersion} are only allowed to contain record batches with magic version 2 (got magic ${magic})`);
  }
  if (records.length < BATCH_HEADER_SIZE) return bad(ErrorCode.CORRUPT_MESSAGE, `record batch of ${records.length} bytes is shorter than its header`);
  const size = dv.getInt32(8) + 12;
  if (size < BATCH_HEADER_SIZE) return bad(ErrorCode.CORRUPT_MESSAGE, `record batch length ${size} is shorter than the batch header`);
  if (size > records.length) return bad(ErrorCode.CORRUPT_MESSAGE, `record batch claims ${size} bytes but only ${records.length} arrived`);
  if (size < records.length) {
    return bad(ErrorCode.INVALID_RECORD, `Produce requests with version ${produceVersion} are only allowed to contain exactly one record batch per partition`);
  }
  const stored = dv.getUint32(17);
  const actual = crc32c(records, CRC_START, size);
  if (stored !== actual) {
    return bad(ErrorCode.CORRUPT_MESSAGE, `record batch CRC mismatch (stored ${stored.toString(16)}, computed ${actual.toString(16)})`);
  }
  const header = readBatchHeader(records);
  if (header.attributes & Attr.control) return bad(ErrorCode.INVALID_RECORD, "Clients are not allowed to write control records");
  if ((header.attributes & Attr.compressionMask) > 4) {
    return bad(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `unknown compression codec ${header.attributes & Attr.compressionMask}`);
  }
  if ((header.attributes & Attr.compressionMask) === 4 && produceVersion < 7) {
    return bad(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE, `Produce requests with version ${produceVersion} are not allowed to use ZStandard compression`);
  }
  if (header.lastOffsetDelta < 0) return bad(ErrorCode.INVALID_RECORD, `Batch has an invalid offset range (lastOffsetDelta ${header.lastOffsetDelta})`);
  if (header.recordsCount <= 0) return bad(ErrorCode.INVALID_RECORD, `Invalid reported count for record batch: ${header.recordsCount}`);
  if (header.recordsCount !== header.lastOffsetDelta + 1) {
    return bad(ErrorCode.INVALID_RECORD, `Inconsistent batch offset range: ${header.recordsCount} records but lastOffsetDelta ${header.lastOffsetDelta}`);
  }
  return { ok: true, header };
}

/** Checks a stored batch (WAL replay, S3 reads): length and CRC. */
export function batchIsIntact(b: Uint8Array, pos = 0, end = b.length): boolean {
  if (end - pos < BATCH_HEADER_SIZE) return false;
  const dv = view(b);
  const size = dv.getInt32(pos + 8) + 12;
  if (size < BATCH_HEADER_SIZE || pos + size > end || dv.getInt8(pos + 16) !== 2) return false;
  return dv.getUint32(pos + 17) === crc32c(b, pos + CRC_START, pos + size);
}

export function setBaseOffset(b: Uint8Array, offset: number): void {
  setI64(view(b), 0, offset);
}

export function setPartitionLeaderEpoch(b: Uint8Array, epoch: number): void {
  view(b).setInt32(12, epoch);
}

/** Sets the batch's max timestamp (CreateTime) and re-CRCs it. */
export function setMaxTimestamp(b: Uint8Array, timestamp: number): void {
  const dv = view(b);
  setI64(dv, 35, timestamp);
  dv.setUint32(17, crc32c(b, CRC_START, dv.getInt32(8) + 12));
}

/** Marks the batch LogAppendTime with the broker's time, as Kafka does for such topics, and re-CRCs it. */
export function setLogAppendTime(b: Uint8Array, timestamp: number): void {
  const dv = view(b);
  dv.setInt16(21, dv.getInt16(21) | Attr.logAppendTime);
  setI64(dv, 35, timestamp);
  dv.setUint32(17, crc32c(b, CRC_START, dv.getInt32(8) + 12));
}

// ---------------------------------------------------------------------------------------------------------------
// Records inside a batch

export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

export interface Record {
  offset: number;
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  headers: RecordHeader[];
}

/**
 * Decodes every record of the batch at b[pos] (decompressing when needed). Offsets are absolute
 * (baseOffset + offsetDelta); timestamps are maxTimestamp for LogAppendTime batches.
 */
export function decodeRecords(b: Uint8Array, pos = 0): Record[] {
  return guarded(b, pos, () => {
    const dv = view(b);
    const size = dv.getInt32(pos + 8) + 12;
    const baseOffset = i64(dv, pos);
    const attributes = dv.getInt16(pos + 21);
    const baseTimestamp = i64(dv, pos + 27);
    const maxTimestamp = i64(dv, pos + 35);
    const count = dv.getInt32(pos + 57);
    const r = new Reader(recordsBody(b, pos, attributes, size, count));
    const logAppend = (attributes & Attr.logAppendTime) !== 0;
    const out: Record[] = [];
    const rec: RecordPrefix = { end: 0, tsDelta: 0, offsetDelta: 0, key: null, valueLength: 0 };
    for (let i = 0; i < count; i++) {
      readRecordPrefix(r, rec);
      const { end, tsDelta, offsetDelta, key } = rec;
      const value = rec.valueLength < 0 ? null : r.raw(rec.valueLength);
      const hc = r.varint();
      const headers: RecordHeader[] = [];
      for (let h = 0; h < hc; h++) {
        const hk = r.varint();
        const hkey = r.utf8(hk);
        const hv = r.varint();
        headers.push({ key: hkey, value: hv < 0 ? null : r.raw(hv) });
      }
      if (r.pos > end) throw new DecodeError(`record ${i} runs ${r.pos - end} bytes past its length`);
      r.pos = end;
      out.push({ offset: baseOffset + offsetDelta, timestamp: logAppend ? maxTimestamp : baseTimestamp + tsDelta, key, value, headers });
    }
    return out;
  });
}

/** A record up to its value: where it ends, its deltas, key and value length (-1: null). */
interface RecordPrefix {
  end: number;
  tsDelta: number;
  offsetDelta: number;
  key: Uint8Array | null;
  valueLength: number;
}

/** Reads a record's length, attributes, deltas, key and value length into `out`; r is left at the value. */
function readRecordPrefix(r: Reader, out: RecordPrefix): void {
  const len = r.varint();
  out.end = r.pos + len;
  if (len < 0 || out.end > r.end) throw new DecodeError(`record length ${len} does not fit the ${r.end - r.pos} bytes left`);
  r.i8(); // attributes
  out.tsDelta = r.varlong();
  out.offsetDelta = r.varint();
  const kl = r.varint();
  out.key = kl < 0 ? null : r.raw(kl);
  out.valueLength = r.varint();
  if (out.valueLength > out.end - r.pos) throw new DecodeError(`value length ${out.valueLength} runs past its record`);
}

/** Walks the batches laid back to back in b (a fetch response's records); a partial trailing batch is ignored. */
export function* batches(b: Uint8Array): Generator<{ pos: number; size: number; baseOffset: number; header: BatchHeader }> {
  let pos = 0;
  while (pos + BATCH_HEADER_SIZE <= b.length) {
    const header = readBatchHeader(b, pos);
    if (header.size < BATCH_HEADER_SIZE || pos + header.size > b.length) return;
    yield { pos, size: header.size, baseOffset: batchBaseOffset(b, pos), header };
    pos += header.size;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Building batches (klite's own load generator and tests)

export interface NewRecord {
  key?: Uint8Array | null;
  value: Uint8Array | null;
  headers?: RecordHeader[];
  timestamp?: number;
}

export interface BatchOptions {
  compression?: number;
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  transactional?: boolean;
  baseOffset?: number;
  timestamp?: number;
}

export function buildBatch(records: readonly NewRecord[], opts: BatchOptions = {}): Uint8Array {
  const now = opts.timestamp ?? Date.now();
  const baseTimestamp = records.length ? (records[0]!.timestamp ?? now) : now;
  let maxTimestamp = baseTimestamp;
  const body = new Writer(64 + records.length * 32);
  const rec = new Writer(256);
  records.forEach((r, i) => {
    const ts = r.timestamp ?? now;
    if (ts > maxTimestamp) maxTimestamp = ts;
    rec.pos = 0;
    rec.i8(0);
    rec.varlong(ts - baseTimestamp);
    rec.varint(i);
    if (r.key == null) rec.varint(-1);
    else {
      rec.varint(r.key.length);
      rec.raw(r.key);
    }
    if (r.value === null) rec.varint(-1);
    else {
      rec.varint(r.value.length);
      rec.raw(r.value);
    }
    const hs = r.headers ?? [];
    rec.varint(hs.length);
    for (const h of hs) {
      const k = new TextEncoder().encode(h.key);
      rec.varint(k.length);
      rec.raw(k);
      if (h.value === null) rec.varint(-1);
      else {
        rec.varint(h.value.length);
        rec.raw(h.value);
      }
    }
    body.varint(rec.pos);
    body.raw(rec.finish());
  });
  const codec = opts.compression ?? 0;
  const payload = compress(codec, body.finish());
  const out = new Uint8Array(BATCH_HEADER_SIZE + payload.length);
  out.set(payload, BATCH_HEADER_SIZE);
  sealBatch(out, {
    baseOffset: opts.baseOffset ?? 0,
    attributes: codec | (opts.transactional ? Attr.transactional : 0),
    recordsCount: records.length,
    baseTimestamp,
    maxTimestamp,
    producerId: opts.producerId ?? -1,
    producerEpoch: opts.producerEpoch ?? -1,
    baseSequence: opts.baseSequence ?? -1,
  });
  return out;
}

export interface NewBatchHeader {
  baseOffset: number;
  attributes: number;
  recordsCount: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

/**
 * Writes the header of the batch whose records already fill b[61..] (all of b is the batch: the length comes from
 * b), records numbered from 0, then its CRC.
 */
export function sealBatch(b: Uint8Array, h: NewBatchHeader): void {
  const dv = view(b);
  setI64(dv, 0, h.baseOffset);
  dv.setInt32(8, b.length - 12);
  dv.setInt32(12, -1);
  dv.setInt8(16, 2);
  dv.setInt16(21, h.attributes);
  dv.setInt32(23, h.recordsCount - 1);
  setI64(dv, 27, h.baseTimestamp);
  setI64(dv, 35, h.maxTimestamp);
  setI64(dv, 43, h.producerId);
  dv.setInt16(51, h.producerEpoch);
  dv.setInt32(53, h.baseSequence);
  dv.setInt32(57, h.recordsCount);
  dv.setUint32(17, crc32c(b, CRC_START, b.length));
}

// ---------------------------------------------------------------------------------------------------------------
// Retaining some records of a batch (compaction)

export interface RecordRef {
  offset: number;
  timestamp: number;
  key: Uint8Array | null;
  /** A null value: a delete marker on a compacted topic. */
  tombstone: boolean;
}

/**
 * Asks `keep` about every record of the batch at b (decompressing once). Returns b itself when every record is
 * kept, null when none is, else a new batch of the kept records: their bytes copied as they are, the same base
 * offset, last offset delta (so consumers step over the gap), base timestamp, producer fields and codec; count,
 * max timestamp (CreateTime), length and CRC recomputed. Control batches are always kept whole.
 */
export function retainRecords(b: Uint8Array, keep: (r: RecordRef) => boolean): Uint8Array | null {
  return guarded(b, 0, () => retain(b, keep));
}

function retain(b: Uint8Array, keep: (r: RecordRef) => boolean): Uint8Array | null {
  const dv = view(b);
  const size = dv.getInt32(8) + 12;
  const attributes = dv.getInt16(21);
  if (attributes & Attr.control) return b;
  const baseOffset = i64(dv, 0);
  const baseTimestamp = i64(dv, 27);
  const logAppend = (attributes & Attr.logAppendTime) !== 0;
  const count = dv.getInt32(57);
  const codec = attributes & Attr.compressionMask;
  const body = recordsBody(b, 0, attributes, size, count);
  const r = new Reader(body);
  const kept: number[] = []; // start, end pairs of the kept records (length prefix included)
  let maxTimestamp = -1;
  const rec: RecordPrefix = { end: 0, tsDelta: 0, offsetDelta: 0, key: null, valueLength: 0 };
  for (let i = 0; i < count; i++) {
    const start = r.pos;
    readRecordPrefix(r, rec);
    r.pos = rec.end;
    const timestamp = logAppend ? i64(dv, 35) : baseTimestamp + rec.tsDelta;
    if (!keep({ offset: baseOffset + rec.offsetDelta, timestamp, key: rec.key, tombstone: rec.valueLength < 0 })) continue;
    kept.push(start, rec.end);
    if (baseTimestamp + rec.tsDelta > maxTimestamp) maxTimestamp = baseTimestamp + rec.tsDelta;
  }
  if (kept.length === count * 2) return b;
  if (kept.length === 0) return null;
  let n = 0;
  for (let i = 0; i < kept.length; i += 2) n += kept[i + 1]! - kept[i]!;
  const records = new Uint8Array(n);
  for (let i = 0, o = 0; i < kept.length; i += 2) {
    records.set(body.subarray(kept[i]!, kept[i + 1]!), o);
    o += kept[i + 1]! - kept[i]!;
  }
  const payload = compress(codec, records);
  const out = new Uint8Array(BATCH_HEADER_SIZE + payload.length);
  out.set(b.subarray(0, BATCH_HEADER_SIZE));
  out.set(payload, BATCH_HEADER_SIZE);
  const odv = view(out);
  odv.setInt32(8, out.length - 12);
  if (!logAppend) setI64(odv, 35, maxTimestamp);
  odv.setInt32(57, kept.length / 2);
  odv.setUint32(17, crc32c(out, CRC_START, out.length));
  return out;
}
