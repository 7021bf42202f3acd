// Validation of a produced batch's records before it is stored, after Apache Kafka's LogValidator: what would fail
// a reader later (a record count that does not match the records present, a length or varint out of range, a
// record running past the batch end, offset deltas out of order) is refused now, and the topic's rules are applied
// per record (a key on compacted topics, timestamps within message.timestamp.before/after.max.ms for CreateTime).
// The header and CRC were checked already (records.ts checkProducedBatch).
//
// Hot path: uncompressed batches are walked in place with a cursor and no allocation per record; compressed ones are
// decompressed once, within a bound (a small batch must not become gigabytes), and walked the same way. Nothing is
// allocated unless a record is refused. Kafka corrects a batch's max timestamp rather than refusing it; so does this
// (the caller rewrites it when validate returns a different one).
import { Attr, BATCH_HEADER_SIZE, MAX_DECOMPRESSED_BATCH_BYTES, type BatchHeader } from "../protocol/records.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { decompress, CompressionError, codecName } from "../protocol/compression.ts";

/** The topic configs validation applies (TopicState keeps them current). */
export interface RecordRules {
  /** cleanup.policy includes compact: every record needs a key. */
  compacted: boolean;
  /** message.timestamp.type=LogAppendTime. */
  logAppendTime: boolean;
  /** message.timestamp.before.max.ms / after.max.ms (CreateTime topics only). */
  timestampBeforeMaxMs: number;
  timestampAfterMaxMs: number;
}

export interface RecordError {
  batchIndex: number;
  message: string;
}

/** A refused batch: the partition's error, and for per-record problems the records (Produce v8+ carries them). */
export interface InvalidBatch {
  code: number;
  message: string;
  recordErrors: RecordError[];
}

const BAD = -0x80000001; // no int32 is this: a varint that runs past its end or is too long

// The cursor of the walk: module state, so reading a varint allocates nothing.
let pos = 0;

function varint(b: Uint8Array, end: number): number {
  let v = 0;
  for (let shift = 0; shift < 35; shift += 7) {
    if (pos >= end) return BAD;
    const c = b[pos++]!;
    v |= (c & 0x7f) << shift;
    if (c < 0x80) return (v >>> 1) ^ -(v & 1);
  }
  return BAD;
}

/** A zig-zag varlong as a number; NaN when it runs past end or is longer than 10 bytes. */
function varlong(b: Uint8Array, end: number): number {
  let z = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return NaN;
    const c = b[pos++]!;
    z += (c & 0x7f) * mul;
    if (c < 0x80) return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    mul *= 128;
  }
  return NaN;
}

function invalid(message: string, code: number = ErrorCode.INVALID_RECORD): InvalidBatch {
  return { code, message, recordErrors: [] };
}

/**
 * Walks every record of the produced batch b (its header h already checked). Returns the batch's true max
 * timestamp (CreateTime; the caller fixes the header when it differs), or why the batch is refused. `tp` names the
 * partition in messages, as Kafka's do.
 */
export function validateRecords(b: Uint8Array, h: BatchHeader, rules: RecordRules, now: number, tp: string): number | InvalidBatch {
  if (h.producerId >= 0 && h.baseSequence < 0) {
    return invalid(`Invalid sequence number ${h.baseSequence} in record batch with producerId ${h.producerId} in topic partition ${tp}`);
  }
  const codec = h.attributes & Attr.compressionMask;
  let body = b;
  let start = BATCH_HEADER_SIZE;
  let end = h.size;
  if (codec !== 0) {
    try {
      body = decompress(codec, b.subarray(BATCH_HEADER_SIZE, h.size), MAX_DECOMPRESSED_BATCH_BYTES);
    } catch (e) {
      if (!(e instanceof CompressionError)) throw e;
      if (e.tooLarge) {
        return invalid(`Record batch in topic partition ${tp} decompresses to more than ${MAX_DECOMPRESSED_BATCH_BYTES} bytes (${codecName(codec)}), the most this broker validates`);
      }
      return invalid(`Failed to decompress record stream in topic partition ${tp}: ${e.message}`, ErrorCode.CORRUPT_MESSAGE);
    }
    start = 0;
    end = body.length;
  }
  const logAppendBatch = (h.attributes & Attr.logAppendTime) !== 0;
  const checkTimestamps = !rules.logAppendTime;
  const low = now - rules.timestampBeforeMaxMs;
  const high = now + rules.timestampAfterMaxMs;
  let maxTimestamp = -1;
  let errors: RecordError[] | null = null;
  let badTimestamp = false;
  pos = start;
  for (let i = 0; i < h.recordsCount; i++) {
    if (pos >= end) return invalid(`Incorrect declared batch size, premature EOF reached: ${h.recordsCount} records declared, ${i} found in topic partition ${tp}`);
    const len = varint(body, end);
    if (len === BAD || len < 0) return invalid(`Invalid record size of record ${i} in topic partition ${tp}`);
    const recStart = pos;
    const recEnd = pos + len;
    if (recEnd > end) {
      return invalid(`Invalid record size: expected ${len} bytes in record payload, but instead the buffer has only ${end - pos} remaining bytes (record ${i} in topic partition ${tp})`);
    }
    if (pos + 1 > recEnd) return invalid(`Found invalid record structure: record ${i} in topic partition ${tp} has no attributes`);
    pos++; // attributes: unused in magic 2
    const tsDelta = varlong(body, recEnd);
    const offsetDelta = varint(body, recEnd);
    if (Number.isNaN(tsDelta) || offsetDelta === BAD) return invalid(`Found invalid record structure: record ${i} in topic partition ${tp} has a bad timestamp or offset delta`);
    if (offsetDelta !== i) return invalid(`Record ${i} of the batch has offset delta ${offsetDelta}, expected ${i} (offset deltas must count up from 0) in topic partition ${tp}`);
    const keyLen = varint(body, recEnd);
    if (keyLen === BAD || keyLen < -1 || pos + keyLen > recEnd) return invalid(`Found invalid record structure: record ${i} in topic partition ${tp} has a key length of ${keyLen === BAD ? "(unreadable)" : keyLen} with ${recEnd - pos} bytes left`);
    if (keyLen > 0) pos += keyLen;
    const valueLen = varint(body, recEnd);
    if (valueLen === BAD || valueLen < -1 || pos + valueLen > recEnd) return invalid(`Found invalid record structure: record ${i} in topic partition ${tp} has a value length of ${valueLen === BAD ? "(unreadable)" : valueLen} with ${recEnd - pos} bytes left`);
    if (valueLen > 0) pos += valueLen;
    const headers = varint(body, recEnd);
    if (headers === BAD || headers < 0) return invalid(`Found invalid number of record headers ${headers === BAD ? "(unreadable)" : headers} in record ${i} in topic partition ${tp}`);
    for (let k = 0; k < headers; k++) {
      const hk = varint(body, recEnd);
      if (hk === BAD || hk < 0 || pos + hk > recEnd) return invalid(`Invalid header key size ${hk === BAD ? "(unreadable)" : hk} in record ${i} in topic partition ${tp}`);
      pos += hk;
      const hv = varint(body, recEnd);
      if (hv === BAD || hv < -1 || pos + hv > recEnd) return invalid(`Invalid header value size ${hv === BAD ? "(unreadable)" : hv} in record ${i} in topic partition ${tp}`);
      if (hv > 0) pos += hv;
    }
    if (pos !== recEnd) {
      return invalid(`Invalid record size: expected to read ${len} bytes in record payload, but instead read ${pos - recStart} (record ${i} in topic partition ${tp})`);
    }
    // Topic rules, per record (Kafka's validateKey and validateTimestamp).
    if (rules.compacted && keyLen < 0) {
      (errors ??= []).push({ batchIndex: i, message: `Compacted topic cannot accept message without key in topic partition ${tp}.` });
      continue;
    }
    const timestamp = logAppendBatch ? h.maxTimestamp : h.baseTimestamp + tsDelta;
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    if (checkTimestamps && timestamp !== -1) {
      if (timestamp < low || timestamp > high) {
        badTimestamp = true;
        (errors ??= []).push({ batchIndex: i, message: `Timestamp ${timestamp} of message with offset ${offsetDelta} is out of range. The timestamp should be within [${low}, ${high}]` });
      }
    } else if (logAppendBatch) {
      badTimestamp = true;
      (errors ??= []).push({ batchIndex: i, message: `Invalid timestamp type in message ${i}. Producer should not set timestamp type to LogAppendTime.` });
    }
  }
  if (pos !== end) return invalid(`Incorrect declared batch size, records still remaining in file: ${end - pos} bytes after record ${h.recordsCount - 1} in topic partition ${tp}`);
  if (errors !== null) {
    if (badTimestamp) return { code: ErrorCode.INVALID_TIMESTAMP, message: "One or more records have been rejected due to invalid timestamp", recordErrors: errors };
    const shown = errors.slice(0, 3).map((e) => `RecordError(batchIndex=${e.batchIndex}, message='${e.message}')`).join(", ");
    return { code: ErrorCode.INVALID_RECORD, message: `One or more records have been rejected due to ${errors.length} record errors in total, and only showing the first three errors at most: [${shown}]`, recordErrors: errors };
  }
  return maxTimestamp;
}
