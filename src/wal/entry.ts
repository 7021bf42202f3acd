// WAL byte formats. All partitions share one interleaved log under <data-dir>/wal/.
//
// Segment file <20-digit segment id>.wal, preallocated (zero-filled) to its capacity:
//   0   8   magic "KLITEWAL"
//   8   u32 format version (1)
//   12  u32 reserved (0)
//   16  entries back to back, then zeros up to the capacity (a zero length ends the segment)
//
// Entry (big-endian):
//   0   u32 length of everything after this field (40 + batch bytes)
//   4   u32 CRC-32C of bytes 8..44 of the entry plus the first 21 bytes of the batch; the rest of the batch is
//           covered by the batch's own CRC, which replay checks too (so the batch is hashed once on the hot path)
//   8   u64 WAL sequence, monotonic across all entries and segments
//   16  16  topic id
//   32  i32 partition
//   36  i64 base offset (also in the batch header; kept so the entry is readable without the batch)
//   44  ... record batch, exactly as stored and served
import { crc32c } from "../protocol/crc32c.ts";
import { batchIsIntact } from "../protocol/records.ts";

export const SEGMENT_MAGIC = new TextEncoder().encode("KLITEWAL");
export const SEGMENT_HEADER = 16;
export const ENTRY_HEADER = 44;
const BATCH_PREFIX = 21;

export function segmentFileName(id: number): string {
  return `${String(id).padStart(20, "0")}.wal`;
}

export function writeSegmentHeader(b: Uint8Array): void {
  b.set(SEGMENT_MAGIC, 0);
  const dv = new DataView(b.buffer, b.byteOffset, SEGMENT_HEADER);
  dv.setUint32(8, 1);
  dv.setUint32(12, 0);
}

export function hasSegmentHeader(b: Uint8Array): boolean {
  if (b.length < SEGMENT_HEADER) return false;
  for (let i = 0; i < SEGMENT_MAGIC.length; i++) if (b[i] !== SEGMENT_MAGIC[i]) return false;
  return new DataView(b.buffer, b.byteOffset, SEGMENT_HEADER).getUint32(8) === 1;
}

/** Writes one entry at out[pos]; returns the position after it. */
export function writeEntry(out: Uint8Array, dv: DataView, pos: number, seq: number, topicId: Uint8Array, partition: number, baseOffset: number, batch: Uint8Array): number {
  dv.setUint32(pos, ENTRY_HEADER - 4 + batch.length);
  dv.setUint32(pos + 8, Math.floor(seq / 4294967296));
  dv.setUint32(pos + 12, seq >>> 0);
  out.set(topicId, pos + 16);
  dv.setInt32(pos + 32, partition);
  dv.setInt32(pos + 36, Math.floor(baseOffset / 4294967296));
  dv.setUint32(pos + 40, baseOffset >>> 0);
  out.set(batch, pos + ENTRY_HEADER);
  const crc = crc32c(out, pos + 8, pos + ENTRY_HEADER + Math.min(BATCH_PREFIX, batch.length));
  dv.setUint32(pos + 4, crc);
  return pos + ENTRY_HEADER + batch.length;
}

export interface ParsedEntry {
  seq: number;
  topicId: string;
  partition: number;
  baseOffset: number;
  /** Position of the batch bytes within the buffer parsed. */
  batchPos: number;
  batchSize: number;
  /** Position after the entry. */
  end: number;
}

export type EntryParse = ParsedEntry | "end" | "corrupt";

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Parses and verifies the entry at b[pos]: "end" for zeros (never written), "corrupt" for a torn or bad entry. */
export function parseEntry(b: Uint8Array, dv: DataView, pos: number): EntryParse {
  if (pos + 4 > b.length) return "end";
  const len = dv.getUint32(pos);
  if (len === 0) return "end";
  const end = pos + 4 + len;
  if (len < ENTRY_HEADER - 4 + 61 || end > b.length) return "corrupt";
  const batchSize = len - (ENTRY_HEADER - 4);
  const crc = crc32c(b, pos + 8, pos + ENTRY_HEADER + BATCH_PREFIX);
  if (crc !== dv.getUint32(pos + 4)) return "corrupt";
  if (!batchIsIntact(b, pos + ENTRY_HEADER, end)) return "corrupt";
  let topicId = "";
  for (let i = pos + 16; i < pos + 32; i++) topicId += HEX[b[i]!];
  return {
    seq: dv.getUint32(pos + 8) * 4294967296 + dv.getUint32(pos + 12),
    topicId,
    partition: dv.getInt32(pos + 32),
    baseOffset: dv.getInt32(pos + 36) * 4294967296 + dv.getUint32(pos + 40),
    batchPos: pos + ENTRY_HEADER,
    batchSize,
    end,
  };
}
