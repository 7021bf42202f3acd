// Record batches as a producer writes them and a consumer walks them (magic 2; the layout is documented in
// src/protocol/records.ts). A builder (one per batch) appends records straight into one buffer, so a batch costs
// one copy of each value plus the CRC; the walker reads value positions without allocating an object per record.
import { BATCH_HEADER_SIZE, sealBatch } from "../protocol/records.ts";
import { compress, decompress } from "../protocol/compression.ts";
import { crc32c } from "../protocol/crc32c.ts";

const CRC_START = 21;

function varintSize(z: number): number {
  let n = 1;
  while (z >= 0x80) {
    z = Math.floor(z / 0x80);
    n++;
  }
  return n;
}

/** Bytes a record with a null key, no headers and a value of `valueSize` takes at most in a batch. */
export function maxRecordSize(valueSize: number): number {
  return 5 + 1 + 10 + 5 + 1 + 5 + valueSize + 1;
}

export class BatchBuilder {
  readonly buf: Uint8Array;
  pos = BATCH_HEADER_SIZE;
  count = 0;
  baseTimestamp = 0;
  maxTimestamp = 0;
  /** When each record was handed to the producer (performance.now()), for ack latency. */
  readonly sentAt: Float64Array;

  constructor(capacity: number, maxRecords: number) {
    this.buf = new Uint8Array(capacity);
    this.sentAt = new Float64Array(maxRecords);
  }

  /** Whether a record of `recordSize` (maxRecordSize) still fits; the first record always does. */
  fits(recordSize: number): boolean {
    return this.count === 0 || this.pos + recordSize <= this.buf.length;
  }

  /** Appends a record with a null key and no headers. */
  append(value: Uint8Array, timestamp: number, sentAt: number): void {
    if (this.count === 0) this.baseTimestamp = timestamp;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    const tsDelta = timestamp - this.baseTimestamp;
    const zts = tsDelta * 2; // zig-zag of a non-negative delta
    const zoff = this.count * 2;
    const bodySize = 1 + varintSize(zts) + varintSize(zoff) + 1 + varintSize(value.length * 2) + value.length + 1;
    let p = this.pos;
    const b = this.buf;
    p = writeVarint(b, p, bodySize * 2);
    b[p++] = 0; // attributes
    p = writeVarint(b, p, zts);
    p = writeVarint(b, p, zoff);
    b[p++] = 1; // key length -1 (zig-zag)
    p = writeVarint(b, p, value.length * 2);
    b.set(value, p);
    p += value.length;
    b[p++] = 0; // no headers
    this.pos = p;
    this.sentAt[this.count++] = sentAt;
  }

  /** The finished batch, compressed with `codec`; uncompressed, it is a view of the builder's buffer (no copy). */
  seal(codec: number): Uint8Array {
    let out: Uint8Array;
    if (codec === 0) {
      out = this.buf.subarray(0, this.pos);
    } else {
      const payload = compress(codec, this.buf.subarray(BATCH_HEADER_SIZE, this.pos));
      out = new Uint8Array(BATCH_HEADER_SIZE + payload.length);
      out.set(payload, BATCH_HEADER_SIZE);
    }
    sealBatch(out, { baseOffset: 0, attributes: codec, recordsCount: this.count, baseTimestamp: this.baseTimestamp, maxTimestamp: this.maxTimestamp, producerId: -1, producerEpoch: -1, baseSequence: -1 });
    return out;
  }
}

function writeVarint(b: Uint8Array, p: number, z: number): number {
  while (z >= 0x80) {
    b[p++] = (z % 0x80) | 0x80;
    z = Math.floor(z / 0x80);
  }
  b[p++] = z;
  return p;
}

function readVarint(b: Uint8Array, pos: { p: number }): number {
  let z = 0;
  let mul = 1;
  for (;;) {
    const c = b[pos.p++]!;
    z += (c & 0x7f) * mul;
    if (c < 0x80) break;
    mul *= 0x80;
  }
  return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
}

export interface BatchView {
  baseOffset: number;
  lastOffset: number;
  recordsCount: number;
  size: number;
  crcOk: boolean;
}

/**
 * Walks the batches laid back to back in a fetch response's records (a partial trailing batch is ignored).
 * With `onValue`, each record's value is handed over as (buffer, start, end) — decompressed first if needed.
 * `checkCrc` false skips the CRC (a second walk over batches already checked).
 */
export function walkBatches(records: Uint8Array, onBatch: (b: BatchView) => void, onValue?: (buf: Uint8Array, start: number, end: number) => void, checkCrc = true): void {
  const dv = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let pos = 0;
  while (pos + BATCH_HEADER_SIZE <= records.length) {
    const size = dv.getInt32(pos + 8) + 12;
    if (size < BATCH_HEADER_SIZE || pos + size > records.length) return;
    const baseOffset = dv.getInt32(pos) * 4294967296 + dv.getUint32(pos + 4);
    const crcOk = !checkCrc || dv.getUint32(pos + 17) === crc32c(records, pos + CRC_START, pos + size);
    const recordsCount = dv.getInt32(pos + 57);
    onBatch({ baseOffset, lastOffset: baseOffset + dv.getInt32(pos + 23), recordsCount, size, crcOk });
    if (onValue && crcOk) {
      const codec = dv.getInt16(pos + 21) & 7;
      let body = records.subarray(pos + BATCH_HEADER_SIZE, pos + size);
      if (codec !== 0) body = decompress(codec, body);
      const at = { p: 0 };
      for (let i = 0; i < recordsCount && at.p < body.length; i++) {
        const len = readVarint(body, at);
        const end = at.p + len;
        at.p++; // attributes
        readVarint(body, at); // timestamp delta
        readVarint(body, at); // offset delta
        const keyLen = readVarint(body, at);
        if (keyLen > 0) at.p += keyLen;
        const valueLen = readVarint(body, at);
        if (valueLen >= 0) onValue(body, at.p, at.p + valueLen);
        at.p = end;
      }
    }
    pos += size;
  }
}
