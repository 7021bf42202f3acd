// Reading the WAL back at start, and telling a torn tail from corruption.
//
// A segment is scanned entry by entry; where an entry fails its checksums (or a zero length sits where data goes
// on), the scan looks for the next intact entry with a later WAL sequence (leftovers of a failed write carry older
// ones), so everything after the damage is found. Each damaged range is then one of:
//   - a torn tail: a crash cut the newest group-commit write short. Only the newest group can be torn (one write +
//     fsync in flight, the next written only once it is durable), and it was never acknowledged: the range is in
//     the newest segment with data, every intact entry after it belongs to the same group (entry group offsets,
//     entry.ts), and no clean-shutdown mark says the WAL ended later. It is cut off, as always.
//   - corruption: anything else (later groups follow it, it is in an older segment, or the WAL was closed cleanly
//     past it). Acknowledged data may be in it. The caller (the log) decides: restored
//     from a second copy, refused, or marked lost with --accept-data-loss.
// The clean-shutdown mark is <wal>/closed (JSON {segment, end, seq}), written by close() and removed by replay.
//
// A segment file can also be gone altogether (deleted from the data dir between runs). Each segment's header names
// the segment written before it (entry.ts), and the clean-shutdown mark names the last one: a named segment that is
// not there is missing, and everything it held is damaged (what, the caller works out as for other corruption:
// gaps in the partitions that go on after it, and from their last offset on for those that do not). A segment
// named only by the oldest one left may also have been deleted on purpose (its data went to S3, or
// --wal-max-disk-size dropped it and moved the log start): the caller knows, and checks the partitions' first
// offsets against the log start and S3 instead.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { writeFileDurably } from "../meta/durable-file.ts";
import { SEGMENT_HEADER, parseEntry, readUnverified, segmentFileName, segmentFormat, writeSegmentHeader, type ParsedEntry, type UnverifiedEntry } from "./entry.ts";

/** A damaged range of a segment. */
export interface WalDamage {
  segment: number;
  file: string;
  /** Byte range [from, to): from the first bad byte to the next intact entry (or the end of the data). */
  from: number;
  to: number;
  /** What the damaged entries' own headers say (unverified), when their lengths still chain; else null. */
  entries: UnverifiedEntry[] | null;
  /** Torn tail (cut) rather than corruption. */
  torn: boolean;
  /**
   * The whole segment file is missing (from = to = 0: nothing of it is known; entries null). `belowOldest`: only
   * the oldest segment left names it, so it may have been deleted on purpose (see above).
   */
  missing?: { belowOldest: boolean; capacity: number };
}

export interface SegmentScan {
  entries: ParsedEntry[];
  damages: WalDamage[];
  /** Highest WAL sequence seen (the next segment's entries must come after it). */
  lastSeq: number;
}

const ZERO_CHUNK = new Uint8Array(64 * 1024);

/** Index of the first non-zero byte at or after `from` (b.length when there is none); memcmp-fast over zeros. */
function nextNonZero(b: Uint8Array, from: number): number {
  let i = from;
  while (i + ZERO_CHUNK.length <= b.length && Buffer.compare(b.subarray(i, i + ZERO_CHUNK.length), ZERO_CHUNK) === 0) i += ZERO_CHUNK.length;
  while (i < b.length && b[i] === 0) i++;
  return i;
}

/** The end of the non-zero data at or before `limit` (where the preallocated zeros begin). */
function dataEnd(b: Uint8Array, from: number): number {
  let end = from;
  for (let i = nextNonZero(b, from); i < b.length; i = nextNonZero(b, i + 1)) end = i + 1;
  return end;
}

/** The next intact entry after `from` with a sequence above `afterSeq`, or null. */
function findEntry(b: Uint8Array, dv: DataView, from: number, afterSeq: number, format: number): ParsedEntry | null {
  let p = from;
  while (p + 4 <= b.length) {
    if (b[p] === 0 && b[p + 1] === 0 && b[p + 2] === 0 && b[p + 3] === 0) {
      // An entry's big-endian length has at most three leading zero bytes: skip zeros, then look just before.
      const nz = nextNonZero(b, p);
      if (nz >= b.length) return null;
      p = Math.max(p + 1, nz - 3);
      continue;
    }
    const e = parseEntry(b, dv, p, format);
    if (typeof e === "object" && e.seq > afterSeq) return e;
    p++;
  }
  return null;
}

/** Scans one segment image: its intact entries in order and its damaged ranges (not yet classified). */
export function scanSegment(b: Uint8Array, format: number, segment: number, file: string, afterSeq: number): SegmentScan {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const entries: ParsedEntry[] = [];
  const damages: WalDamage[] = [];
  let lastSeq = afterSeq;
  let pos = SEGMENT_HEADER;
  for (;;) {
    const e = parseEntry(b, dv, pos, format);
    if (typeof e === "object" && e.seq > lastSeq) {
      entries.push(e);
      lastSeq = e.seq;
      pos = e.end;
      continue;
    }
    // The end of the data, a damaged entry, or a stale one: is there an intact entry further on?
    const next = findEntry(b, dv, pos + 1, lastSeq, format);
    if (next === null) {
      if (e !== "end") {
        const to = Math.max(pos + 1, dataEnd(b, pos));
        damages.push({ segment, file, from: pos, to, entries: readUnverified(b, dv, pos, to, format), torn: false });
      }
      break;
    }
    damages.push({ segment, file, from: pos, to: next.pos, entries: readUnverified(b, dv, pos, next.pos, format), torn: false });
    pos = next.pos;
  }
  return { entries, damages, lastSeq };
}

/**
 * Whether a damaged range can be a torn tail: it lies in the newest segment with data, before no clean-shutdown
 * end, and every intact entry after it was written in the same group-commit write as the damage (format 2; with
 * format 1, which does not say, only when nothing intact follows).
 */
export function couldBeTorn(d: WalDamage, scan: SegmentScan, newest: boolean, closedEnd: number | null): boolean {
  if (!newest) return false;
  if (closedEnd !== null && d.from < closedEnd) return false;
  for (const e of scan.entries) {
    if (e.pos < d.to) continue;
    if (e.groupOffset < 0 || e.pos - e.groupOffset > d.from) return false; // a later group: this one was durable
  }
  return true;
}

/** Whether any byte of the first part of a segment's data region is non-zero (it holds, or held, entries). */
export function segmentHasData(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const b = new Uint8Array(64 * 1024);
    const n = readSync(fd, b, 0, b.length, SEGMENT_HEADER);
    return nextNonZero(b.subarray(0, n), 0) < n;
  } finally {
    closeSync(fd);
  }
}

// --- the clean-shutdown mark ----------------------------------------------------------------------------------

export interface ClosedMark {
  segment: number;
  end: number;
  seq: number;
}

const MARK = "closed";

export function writeClosedMark(dir: string, mark: ClosedMark): void {
  writeFileDurably(join(dir, MARK), JSON.stringify(mark));
}

/** Reads the mark a clean shutdown left (null after a crash or when unreadable). */
export function readClosedMark(dir: string): ClosedMark | null {
  const path = join(dir, MARK);
  if (!existsSync(path)) return null;
  try {
    const m = JSON.parse(readFileSync(path, "utf8")) as ClosedMark;
    return Number.isSafeInteger(m.segment) && Number.isSafeInteger(m.end) ? m : null;
  } catch {
    return null;
  }
}

/** Removes the mark: from now on the WAL is being written, and a crash leaves no mark. */
export function clearClosedMark(dir: string): void {
  const path = join(dir, MARK);
  if (existsSync(path)) unlinkSync(path);
}

// --- missing segments -----------------------------------------------------------------------------------------

/**
 * Segments named (by a later segment's header, or by the clean-shutdown mark) but not on disk. `links`: every
 * segment on disk and the one its header names as written before it. `capacity`: the largest a segment may be.
 */
export function missingSegments(dir: string, links: ReadonlyMap<number, number | null>, closed: ClosedMark | null, capacity: number): WalDamage[] {
  let oldest = Infinity;
  for (const id of links.keys()) oldest = Math.min(oldest, id);
  const named = new Set<number>();
  for (const [id, after] of links) if (after !== null && after < id && !links.has(after)) named.add(after);
  if (closed && !links.has(closed.segment)) named.add(closed.segment);
  return [...named]
    .sort((a, b) => a - b)
    .map((id) => ({ segment: id, file: join(dir, segmentFileName(id)), from: 0, to: 0, entries: null, torn: false, missing: { belowOldest: id < oldest, capacity } }));
}

/** Reads the segment header of an open segment file. */
export function readHeader(fd: number): Uint8Array {
  const h = new Uint8Array(SEGMENT_HEADER);
  readSync(fd, h, 0, SEGMENT_HEADER, 0);
  return h;
}

/** Rewrites which segment a segment file's header names as written before it (durably; its format kept). */
export function relink(fd: number, after: number | null): void {
  const h = readHeader(fd);
  writeSegmentHeader(h, segmentFormat(h) || 2, after);
  writeSync(fd, h, 0, SEGMENT_HEADER, 0);
  fsyncSync(fd);
}
