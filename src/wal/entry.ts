// WAL byte formats. All partitions share one interleaved log under <data-dir>/wal/.
//
// Segment file <20-digit segment id>.wal, preallocated (zero-filled) to its capacity:
//   0   8   magic "KLITEWAL"
//   8   u32 format version: 2 (1: entries without the group offset, written by klite before it; still read)
//   12  u32 link: the id of the segment written before this one, plus 1 (0: not recorded: the first segment, or
//           written before klite recorded it). Segment ids may skip (a failed preparation used one up), so this is
//           how replay knows a segment file is missing rather than never made (recovery.ts).
//   16  entries back to back, then zeros up to the capacity (a zero length ends the segment)
//
// Entry, format 2 (big-endian):
//   0   u32 length of everything after this field (44 + batch bytes)
//   4   u32 CRC-32C of bytes 8..48 of the entry plus the first 21 bytes of the batch; the rest of the batch is
//           covered by the batch's own CRC, which replay checks too (so the batch is hashed once on the hot path)
//   8   u64 WAL sequence, monotonic across all entries and segments
//   16  16  topic id
//   32  i32 partition
//   36  i64 base offset (also in the batch header; kept so the entry is readable without the batch)
//   44  u32 group offset: bytes from the start of the group-commit write the entry came in (0: its first entry).
//           Only the newest group can be torn by a crash (one write + fsync in flight at a time, the next written
//           only once it is durable), so damage followed by entries of a later group is corruption, not a torn tail.
//   48  ... record batch, exactly as stored and served
// Format 1 is the same without the group offset (header 44 bytes, CRC over bytes 8..44 plus 21).
import { crc32c } from "../protocol/crc32c.ts";
import { batchIsIntact } from "../protocol/records.ts";

export const SEGMENT_MAGIC = new TextEncoder().encode("KLITEWAL");
export const SEGMENT_HEADER = 16;
export const FORMAT = 2;
export const ENTRY_HEADER = 48;
const BATCH_PREFIX = 21;
const MIN_BATCH = 61;

export function segmentFileName(id: number): string {
  return `${String(id).padStart(20, "0")}.wal`;
}

/** `after`: the segment written before this one (null: none, or not known). */
export function writeSegmentHeader(b: Uint8Array, format = FORMAT, after: number | null = null): void {
  b.set(SEGMENT_MAGIC, 0);
  const dv = new DataView(b.buffer, b.byteOffset, SEGMENT_HEADER);
  dv.setUint32(8, format);
  dv.setUint32(12, after !== null && after >= 0 && after < 0xffffffff ? after + 1 : 0);
}

/** The segment written before this one, as its header records it (null: not recorded). */
export function segmentLink(b: Uint8Array): number | null {
  if (b.length < SEGMENT_HEADER) return null;
  const v = new DataView(b.buffer, b.byteOffset, SEGMENT_HEADER).getUint32(12);
  return v === 0 ? null : v - 1;
}

/** The segment's format version (1 or 2), or 0 when its header is not a WAL header. */
export function segmentFormat(b: Uint8Array): number {
  if (b.length < SEGMENT_HEADER) return 0;
  for (let i = 0; i < SEGMENT_MAGIC.length; i++) if (b[i] !== SEGMENT_MAGIC[i]) return 0;
  const v = new DataView(b.buffer, b.byteOffset, SEGMENT_HEADER).getUint32(8);
  return v === 1 || v === 2 ? v : 0;
}

export function entryHeaderSize(format: number): number {
  return format === 1 ? 44 : ENTRY_HEADER;
}

/** Writes one entry (format 2) at out[pos], `groupOffset` bytes into its group; returns the position after it. */
export function writeEntry(out: Uint8Array, dv: DataView, pos: number, seq: number, topicId: Uint8Array, partition: number, baseOffset: number, batch: Uint8Array, groupOffset: number): number {
  dv.setUint32(pos, ENTRY_HEADER - 4 + batch.length);
  dv.setUint32(pos + 8, Math.floor(seq / 4294967296));
  dv.setUint32(pos + 12, seq >>> 0);
  out.set(topicId, pos + 16);
  dv.setInt32(pos + 32, partition);
  dv.setInt32(pos + 36, Math.floor(baseOffset / 4294967296));
  dv.setUint32(pos + 40, baseOffset >>> 0);
  dv.setUint32(pos + 44, groupOffset);
  out.set(batch, pos + ENTRY_HEADER);
  const crc = crc32c(out, pos + 8, pos + ENTRY_HEADER + Math.min(BATCH_PREFIX, batch.length));
  dv.setUint32(pos + 4, crc);
  return pos + ENTRY_HEADER + batch.length;
}

export interface ParsedEntry {
  /** Position of the entry in the buffer parsed. */
  pos: number;
  seq: number;
  topicId: string;
  partition: number;
  baseOffset: number;
  /** Bytes from the start of the entry's group (-1 in format 1, which does not say). */
  groupOffset: number;
  /** Position of the batch bytes within the buffer parsed. */
  batchPos: number;
  batchSize: number;
  /** Position after the entry. */
  end: number;
}

export type EntryParse = ParsedEntry | "end" | "corrupt";

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function topicIdHex(b: Uint8Array, pos: number): string {
  let s = "";
  for (let i = pos; i < pos + 16; i++) s += HEX[b[i]!];
  return s;
}

/**
 * Parses and verifies the entry at b[pos]: "end" for a zero length (never written), "corrupt" for anything that is
 * not a whole entry with matching checksums. The cheap checks come first, so scanning for entries is fast.
 */
export function parseEntry(b: Uint8Array, dv: DataView, pos: number, format = FORMAT): EntryParse {
  if (pos + 4 > b.length) return "end";
  const len = dv.getUint32(pos);
  if (len === 0) return "end";
  const header = entryHeaderSize(format);
  const end = pos + 4 + len;
  if (len < header - 4 + MIN_BATCH || end > b.length) return "corrupt";
  const batchPos = pos + header;
  const batchSize = len - (header - 4);
  if (b[batchPos + 16] !== 2 || dv.getInt32(batchPos + 8) + 12 !== batchSize) return "corrupt";
  const crc = crc32c(b, pos + 8, batchPos + BATCH_PREFIX);
  if (crc !== dv.getUint32(pos + 4)) return "corrupt";
  if (!batchIsIntact(b, batchPos, end)) return "corrupt";
  return {
    pos,
    seq: dv.getUint32(pos + 8) * 4294967296 + dv.getUint32(pos + 12),
    topicId: topicIdHex(b, pos + 16),
    partition: dv.getInt32(pos + 32),
    baseOffset: dv.getInt32(pos + 36) * 4294967296 + dv.getUint32(pos + 40),
    groupOffset: format === 1 ? -1 : dv.getUint32(pos + 44),
    batchPos,
    batchSize,
    end,
  };
}

/** What a damaged entry's header still says, unverified (its checksum failed): used to name the records affected. */
export interface UnverifiedEntry {
  pos: number;
  end: number;
  topicId: string;
  partition: number;
  baseOffset: number;
  lastOffset: number;
}

/**
 * Reads the entries of a damaged range [from, to) by their length fields alone. Returns them when the lengths chain
 * exactly from `from` to `to` and every header is plausible, else null (the damage hit the lengths themselves).
 */
export function readUnverified(b: Uint8Array, dv: DataView, from: number, to: number, format = FORMAT): UnverifiedEntry[] | null {
  const header = entryHeaderSize(format);
  const out: UnverifiedEntry[] = [];
  let pos = from;
  while (pos < to) {
    if (pos + header + MIN_BATCH > to) return null;
    const len = dv.getUint32(pos);
    const end = pos + 4 + len;
    if (len < header - 4 + MIN_BATCH || end > to) return null;
    const partition = dv.getInt32(pos + 32);
    const baseOffset = dv.getInt32(pos + 36) * 4294967296 + dv.getUint32(pos + 40);
    const lastDelta = dv.getInt32(pos + header + 23);
    if (partition < 0 || baseOffset < 0 || lastDelta < 0) return null;
    out.push({ pos, end, topicId: topicIdHex(b, pos + 16), partition, baseOffset, lastOffset: baseOffset + lastDelta });
    pos = end;
  }
  return out;
}
