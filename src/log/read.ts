// The log's read API for fetches: the long poll, the limits and the copy of stored batches into the response's pages.
//
// fetch() waits until minBytes are available, maxWaitMs passes, a partition has an error or the log is closing; then
// reads each partition in request order into a PageSink (memory/pages.ts): batches still in the chunk pool are copied
// from there, older ones read from the WAL with one pread per run of entries that lie back to back in a segment (the
// 44-byte entry headers between them are squeezed out in the page), and offsets only S3 holds with one ranged GET. The
// sink's pages hold the records until the socket has taken them, so nothing read is a buffer of its own.
// Limits: maxBytes per partition and per response, except that the first batch of the first partition with data is
// returned whole even when larger (KIP-74). Memory: when the sink can get no more pages (the connection's share or
// the pool is used up), the response carries what was read so far; when that is nothing, the fetch waits for pages
// to come back (within its max wait) before it answers empty.
// Damaged ranges (log/damage.ts): a read at an offset marked lost answers CORRUPT_MESSAGE, one at a range the WAL
// lost but S3 holds reads from S3, and every read stops before the next damaged range, so consumers meet the error
// instead of stepping over it.
// The last stable offset is the high watermark: there are no transactions yet, so nothing is ever undecided.
import { ErrorCode } from "../protocol/errors.ts";
import { batches, CorruptBatchError } from "../protocol/records.ts";
import { ENTRY_HEADER } from "../wal/entry.ts";
import { PAGE_BYTES, type PageSink } from "../memory/pages.ts";
import type { Logger } from "../logger.ts";
import type { Wal } from "../wal/wal.ts";
import type { Partition } from "./partition.ts";

export interface FetchPartition {
  /** null: unknown partition; the result carries `errorCode`. */
  p: Partition | null;
  offset: number;
  maxBytes: number;
  /** An error decided before reading (unknown topic, fenced epoch); 0 otherwise. */
  errorCode: number;
}

export interface FetchSpec {
  partitions: FetchPartition[];
  minBytes: number;
  maxWaitMs: number;
  /** Response limit (already capped by the broker's --fetch-max-bytes). */
  maxBytes: number;
}

export interface FetchedPartition {
  errorCode: number;
  highWatermark: number;
  lastStableOffset: number;
  logStartOffset: number;
  /** Slices of the sink's pages, valid until the sink is released. */
  records: Uint8Array[];
  bytes: number;
}

/** What fetch() needs of the log (implemented by Log). */
export interface Readable {
  readonly wal: Wal<Partition>;
  readonly logger: Logger;
  readonly closing: boolean;
  available(p: Partition, offset: number, enough: number): number;
  /** Offsets below this are only in S3. */
  coldEnd(p: Partition): number;
  readCold(p: Partition, offset: number, maxBytes: number, minOne: boolean): Promise<{ records: Uint8Array[]; bytes: number } | null>;
  /** Logs a damaged stored batch the first time a reader meets it. */
  reportCorrupt(p: Partition, base: number, message: string): void;
}

const NONE: Uint8Array[] = [];

export async function fetch(log: Readable, spec: FetchSpec, sink: PageSink): Promise<FetchedPartition[]> {
  const minBytes = Math.max(1, spec.minBytes);
  const deadline = performance.now() + Math.max(0, spec.maxWaitMs);
  for (;;) {
    let ready = 0;
    let errors = false;
    for (const w of spec.partitions) {
      const p = w.p;
      if (w.errorCode !== 0 || p === null || p.deleted) errors = true;
      else if (w.offset < p.logStartOffset || w.offset > p.highWatermark) errors = true;
      else ready += log.available(p, w.offset, minBytes - ready);
    }
    const wait = deadline - performance.now();
    if (errors || ready >= minBytes || wait <= 0 || log.closing) break;
    // Other requests interleave while this fetch waits for a high watermark to move.
    await waitForData(spec.partitions, wait);
  }
  for (;;) {
    const r = await readAll(log, spec, sink);
    const wait = deadline - performance.now();
    if (!r.starved || wait <= 0 || log.closing) return r.out;
    // Data is there but no page could be had: wait (within the max wait) for other responses to leave, then retry.
    await sink.whenFree(wait);
  }
}

function waitForData(parts: FetchPartition[], ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      for (const w of parts) w.p?.removeWaiter(wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    for (const w of parts) w.p?.addWaiter(wake);
  });
}

/** Offsets are reported with the data, OFFSET_OUT_OF_RANGE and CORRUPT_MESSAGE (the client sees where the log is); -1 otherwise. */
function result(errorCode: number, p: Partition | null, records = NONE, bytes = 0): FetchedPartition {
  const known = p !== null && (errorCode === 0 || errorCode === ErrorCode.OFFSET_OUT_OF_RANGE || errorCode === ErrorCode.CORRUPT_MESSAGE);
  const hw = known ? p.highWatermark : -1;
  return { errorCode, highWatermark: hw, lastStableOffset: hw, logStartOffset: known ? p.logStartOffset : -1, records, bytes };
}

/** Reads every partition; `starved` when nothing was read only for want of memory. */
async function readAll(log: Readable, spec: FetchSpec, sink: PageSink): Promise<{ out: FetchedPartition[]; starved: boolean }> {
  const out: FetchedPartition[] = [];
  let remaining = spec.maxBytes;
  let minOne = true;
  let short = false;
  for (const w of spec.partitions) {
    const p = w.p;
    if (p === null || w.errorCode !== 0) {
      out.push(result(w.errorCode, p));
      continue;
    }
    if (p.deleted) {
      out.push(result(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, p));
      continue;
    }
    if (w.offset < p.logStartOffset || w.offset > p.highWatermark) {
      out.push(result(ErrorCode.OFFSET_OUT_OF_RANGE, p));
      continue;
    }
    if (short || (remaining <= 0 && !minOne)) {
      out.push(result(0, p));
      continue;
    }
    const hole = p.holes.length ? p.holeAt(w.offset) : undefined;
    if (hole?.lost) {
      out.push(result(ErrorCode.CORRUPT_MESSAGE, p));
      continue;
    }
    const max = Math.min(w.maxBytes, Math.max(0, remaining));
    sink.begin();
    let got: { bytes: number; short: boolean };
    try {
      // Only offsets that S3 alone holds (or holds for a damaged WAL range) await here; the partition's state is
      // read again after it.
      const cold = hole !== undefined || w.offset < log.coldEnd(p);
      got = cold ? await readCold(log, p, w.offset, max, minOne, sink) : readLocal(log.wal, p, w.offset, max, minOne, sink);
    } catch (e) {
      sink.end();
      if (e instanceof CorruptBatchError) {
        // Damaged in the bucket, with no other copy: an error for that offset, never the damaged bytes.
        log.reportCorrupt(p, e.offset, e.message);
        out.push(result(ErrorCode.CORRUPT_MESSAGE, p));
        continue;
      }
      log.logger.warn(`fetch ${p}@${w.offset} failed: ${(e as Error).message}`);
      out.push(result(ErrorCode.KAFKA_STORAGE_ERROR, p));
      continue;
    }
    const records = sink.end();
    short = got.short;
    if (w.offset < p.logStartOffset) {
      out.push(result(ErrorCode.OFFSET_OUT_OF_RANGE, p)); // retention moved the log start during an S3 read
      continue;
    }
    out.push(result(0, p, got.bytes > 0 ? records : NONE, got.bytes));
    if (got.bytes > 0) {
      remaining -= got.bytes;
      minOne = false;
    }
  }
  return { out, starved: short && minOne };
}

/**
 * Batches of p from `offset` on (the first whose last offset is >= offset), up to maxBytes, into the sink.
 * Synchronous. `short` when it stopped for want of pages.
 */
export function readLocal(wal: Wal<Partition>, p: Partition, offset: number, maxBytes: number, minOne: boolean, sink: PageSink): { bytes: number; short: boolean } {
  const idx = p.index;
  let i = offset < p.highWatermark ? idx.find(offset) : -1;
  let bytes = 0;
  if (i < 0) return { bytes, short: false };
  const limit = p.holes.length ? p.nextHole(offset) : Infinity;
  while (i < idx.end) {
    if (idx.base[i]! >= limit) break; // the next batch lies after a hole: the consumer asks for the hole next
    const size = idx.size[i]!;
    const first = minOne && bytes === 0;
    if (bytes + size > maxBytes && !first) break;
    // KIP-74's first batch may go past the connection's share (never past the pool): the consumer must progress.
    sink.overdraft = first;
    if (!sink.fits(size)) {
      sink.overdraft = false;
      return { bytes, short: true };
    }
    const view = wal.cached(idx.chunk[i]!, idx.pos[i]!, size);
    if (view !== null) {
      sink.copy(view);
      bytes += size;
      i++;
      continue;
    }
    const seg = idx.seg[i]!;
    const pos = idx.pos[i]!;
    if (size > PAGE_BYTES) {
      // A batch larger than a page: read it page by page.
      for (let o = 0; o < size; ) {
        const r = sink.region(Math.min(PAGE_BYTES, size - o))!;
        const n = Math.min(r.buf.length - r.at, size - o);
        wal.pread(seg, pos + o, r.buf, r.at, n);
        sink.commit(n);
        o += n;
      }
      bytes += size;
      i++;
      continue;
    }
    // A run of batches lying back to back in the segment (only entry headers between them), as many as fit the
    // page and the limit: one pread, then the headers are squeezed out.
    const r = sink.region(size)!;
    const room = r.buf.length - r.at;
    let span = size;
    let taken = size;
    let j = i + 1;
    while (j < idx.end && idx.base[j]! < limit) {
      const s = idx.size[j]!;
      if (idx.seg[j] !== seg || idx.pos[j] !== pos + span + ENTRY_HEADER) break;
      if (span + ENTRY_HEADER + s > room || bytes + taken + s > maxBytes) break;
      if (wal.cached(idx.chunk[j]!, idx.pos[j]!, s) !== null) break;
      span += ENTRY_HEADER + s;
      taken += s;
      j++;
    }
    wal.pread(seg, pos, r.buf, r.at, span);
    let write = r.at + size;
    let read = r.at + size + ENTRY_HEADER;
    for (let k = i + 1; k < j; k++) {
      const s = idx.size[k]!;
      r.buf.copyWithin(write, read, read + s);
      write += s;
      read += s + ENTRY_HEADER;
    }
    sink.commit(taken);
    bytes += taken;
    i = j;
  }
  sink.overdraft = false;
  return { bytes, short: false };
}

async function readCold(log: Readable, p: Partition, offset: number, maxBytes: number, minOne: boolean, sink: PageSink): Promise<{ bytes: number; short: boolean }> {
  // Ask S3 only for what the sink can take; pages are reserved first so the body finds them after the GET.
  const can = sink.capacity(minOne);
  if (can <= 0) return { bytes: 0, short: true };
  const r = await log.readCold(p, offset, Math.min(maxBytes, can), minOne);
  if (r === null) {
    // S3 holds nothing at or after offset any more (compacted away): the next batch is in the WAL.
    return readLocal(log.wal, p, offset, maxBytes, minOne, sink);
  }
  let bytes = 0;
  sink.overdraft = minOne;
  // A lost range after offset: the read stops before it (batch by batch), so the consumer meets it.
  const lost = p.holes.find((h) => h.lost && h.start > offset)?.start ?? Infinity;
  outer: for (const body of r.records) {
    for (const b of lost === Infinity ? [{ pos: 0, size: body.length, baseOffset: -1 }] : batches(body)) {
      if (b.baseOffset >= lost) break outer;
      if (!sink.fits(b.size)) {
        sink.overdraft = false;
        return { bytes, short: true };
      }
      sink.copy(body.subarray(b.pos, b.pos + b.size));
      bytes += b.size;
      sink.overdraft = false;
    }
  }
  sink.overdraft = false;
  return { bytes, short: false };
}
