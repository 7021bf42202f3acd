// The S3 data object: one partition's record batches, exactly as stored in the WAL and served to consumers, followed
// by a footer that indexes them. Readers fetch the footer with one ranged GET of the tail, then exactly the batches
// they need with a second one; batches are never re-encoded on the way in or out (compaction aside).
//
// Layout (big-endian):
//   0            record batch 0, record batch 1, ... back to back (magic-2 batches, their own CRCs intact)
//   D            footer: one 36-byte entry per batch, in offset order
//                  0  i64  base offset
//                  8  u64  byte position of the batch in the object
//                  16 u32  batch length in bytes
//                  20 i32  last offset delta (last offset = base + delta; kept through compaction)
//                  24 i64  max timestamp
//                  32 i32  record count
//   D + 36n      u32  entry count n
//   D + 36n + 4  4    magic "KLO1" (format version 1)
// The object size is D + 36n + 8. A decoder checks the magic, that positions are contiguous from 0, that lengths
// add up to D and that base offsets ascend, so a truncated or foreign object is refused rather than misread.
import { readBatchHeader } from "../protocol/records.ts";

export const FOOTER_ENTRY = 36;
export const TRAILER = 8;
export const MAGIC = new Uint8Array([0x4b, 0x4c, 0x4f, 0x31]); // "KLO1"

export class ObjectFormatError extends Error {
  override name = "ObjectFormatError";
}

/** The decoded footer: struct-of-arrays over the batches of one object. */
export class Footer {
  constructor(
    readonly count: number,
    readonly base: Float64Array,
    readonly pos: Float64Array,
    readonly size: Int32Array,
    readonly lastDelta: Int32Array,
    readonly maxTs: Float64Array,
    readonly records: Int32Array,
    /** Bytes of batch data (where the footer starts). */
    readonly dataBytes: number,
  ) {}

  last(i: number): number {
    return this.base[i]! + this.lastDelta[i]!;
  }

  /** Index of the first batch whose last offset is >= offset, or count when there is none. */
  find(offset: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.last(mid) < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first batch holding a timestamp >= ts, or count. */
  findTimestamp(ts: number): number {
    for (let i = 0; i < this.count; i++) if (this.maxTs[i]! >= ts) return i;
    return this.count;
  }

  get firstOffset(): number {
    return this.count ? this.base[0]! : -1;
  }

  get lastOffset(): number {
    return this.count ? this.last(this.count - 1) : -1;
  }

  get maxTimestamp(): number {
    let m = -1;
    for (let i = 0; i < this.count; i++) if (this.maxTs[i]! > m) m = this.maxTs[i]!;
    return m;
  }

  /** Bytes the footer occupies at the end of its object (entries + trailer). */
  get bytes(): number {
    return footerBytes(this.count);
  }
}

/** Bytes of the tail needed to decode the footer of an object with `count` batches. */
export function footerBytes(count: number): number {
  return count * FOOTER_ENTRY + TRAILER;
}

/** Builds an object from batches (each a whole magic-2 batch with its final base offset). */
export function encodeObject(batches: readonly Uint8Array[]): Uint8Array {
  let data = 0;
  for (const b of batches) data += b.length;
  const out = new Uint8Array(data + footerBytes(batches.length));
  const dv = new DataView(out.buffer);
  let pos = 0;
  let f = data;
  for (const b of batches) {
    out.set(b, pos);
    const h = readBatchHeader(b);
    const bdv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    dv.setInt32(f, bdv.getInt32(0));
    dv.setUint32(f + 4, bdv.getUint32(4));
    dv.setUint32(f + 8, Math.floor(pos / 4294967296));
    dv.setUint32(f + 12, pos >>> 0);
    dv.setUint32(f + 16, b.length);
    dv.setInt32(f + 20, h.lastOffsetDelta);
    dv.setInt32(f + 24, Math.floor(h.maxTimestamp / 4294967296));
    dv.setUint32(f + 28, h.maxTimestamp >>> 0);
    dv.setInt32(f + 32, h.recordsCount);
    pos += b.length;
    f += FOOTER_ENTRY;
  }
  dv.setUint32(f, batches.length);
  out.set(MAGIC, f + 4);
  return out;
}

/**
 * Decodes the footer from the last `tail.length` bytes of an object of `objectSize` bytes. Returns the number of
 * tail bytes needed when the tail given is too short (read that many and call again).
 */
export function decodeFooter(tail: Uint8Array, objectSize: number): Footer | { need: number } {
  if (tail.length < TRAILER || objectSize < TRAILER) throw new ObjectFormatError(`object of ${objectSize} bytes is too short for a footer`);
  const dv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  const t = tail.length - TRAILER;
  for (let i = 0; i < 4; i++) if (tail[t + 4 + i] !== MAGIC[i]) throw new ObjectFormatError("object does not end in the KLO1 magic");
  const count = dv.getUint32(t);
  const need = footerBytes(count);
  if (need > objectSize) throw new ObjectFormatError(`footer of ${count} entries does not fit an object of ${objectSize} bytes`);
  if (tail.length < need) return { need };
  const dataBytes = objectSize - need;
  const base = new Float64Array(count);
  const pos = new Float64Array(count);
  const size = new Int32Array(count);
  const lastDelta = new Int32Array(count);
  const maxTs = new Float64Array(count);
  const records = new Int32Array(count);
  let expect = 0;
  for (let i = 0, f = tail.length - need; i < count; i++, f += FOOTER_ENTRY) {
    base[i] = dv.getInt32(f) * 4294967296 + dv.getUint32(f + 4);
    pos[i] = dv.getUint32(f + 8) * 4294967296 + dv.getUint32(f + 12);
    size[i] = dv.getUint32(f + 16);
    lastDelta[i] = dv.getInt32(f + 20);
    maxTs[i] = dv.getInt32(f + 24) * 4294967296 + dv.getUint32(f + 28);
    records[i] = dv.getInt32(f + 32);
    if (pos[i] !== expect) throw new ObjectFormatError(`footer entry ${i} starts at ${pos[i]}, expected ${expect}`);
    if (i > 0 && base[i]! <= base[i - 1]! + lastDelta[i - 1]!) throw new ObjectFormatError(`footer entry ${i} does not follow entry ${i - 1} in offset order`);
    if (lastDelta[i]! < 0) throw new ObjectFormatError(`footer entry ${i} has a negative last offset delta`);
    expect += size[i]!;
  }
  if (expect !== dataBytes) throw new ObjectFormatError(`footer describes ${expect} bytes of batches, the object holds ${dataBytes}`);
  return new Footer(count, base, pos, size, lastDelta, maxTs, records, dataBytes);
}
