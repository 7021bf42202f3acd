// What corruption in the WAL costs, partition by partition, and what can be done about it (issue 12 "Corruption").
//
// The WAL reports each damaged range (wal/recovery.ts) with what the damaged entries' headers still say when their
// lengths chain; replay also sees, per partition, a gap between two entries that should follow each other. From
// both, every partition's affected offsets: exact where a later entry of the partition bounds the gap, taken from
// the damaged headers where they are readable, else unknown (from the partition's last intact offset on, for as
// many records as the damaged bytes could hold). Then each range is:
//   - restored: the S3 tier holds it (reads of those offsets go to S3, the second copy);
//   - lost: no second copy holds it. The broker refuses to start, naming the file, the bytes and the records, unless
//     --accept-data-loss says to start anyway: the range is then recorded as lost (reads get CORRUPT_MESSAGE, never a
//     silent skip) and offsets continue after it (no acknowledged offset is handed out twice).
import type { Uuid } from "../protocol/codec.ts";
import type { WalDamage } from "../wal/wal.ts";
import { BATCH_HEADER_SIZE, MAX_DECOMPRESSED_BATCH_BYTES } from "../protocol/records.ts";
import { ENTRY_HEADER } from "../wal/entry.ts";

/** Offsets [start, end] of one partition. */
export interface OffsetRange {
  topic: Uuid;
  partition: number;
  start: number;
  end: number;
}

/** The broker must not start: acknowledged records are damaged and nothing holds a second copy. */
export class DataLossError extends Error {
  override name = "DataLossError";
}

/** The most records `bytes` of damaged entries can hold: the most a stored batch may have, per smallest entry. */
export function maxRecordsIn(bytes: number): number {
  const entries = Math.max(1, Math.ceil(bytes / (ENTRY_HEADER + BATCH_HEADER_SIZE)));
  return entries * Math.ceil(MAX_DECOMPRESSED_BATCH_BYTES / 7); // a record takes at least 7 bytes uncompressed
}

export function describeRange(r: OffsetRange, name: (topic: Uuid) => string): string {
  return `${name(r.topic)}-${r.partition} offsets ${r.start}${r.end !== r.start ? `-${r.end}` : ""}`;
}

export function describeDamage(d: WalDamage): string {
  return `${d.file} bytes ${d.from}-${d.to}`;
}

/** Merges overlapping or touching ranges of the same partition. */
export function mergeRanges(ranges: OffsetRange[]): OffsetRange[] {
  const sorted = [...ranges].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.start - b.start));
  const out: OffsetRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && last.topic === r.topic && last.partition === r.partition && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** The message a refused start gives: what is damaged, which records, why no copy helps, and the way out. */
export function refusal(damages: WalDamage[], lost: string[], s3: boolean): string {
  const where = damages.map(describeDamage).join("; ");
  const what = lost.join(", ");
  return (
    `WAL corruption: ${where} ${damages.length === 1 ? "fails its" : "fail their"} checksums and intact entries follow (not a torn write). ` +
    `Acknowledged records affected: ${what}. ` +
    (s3 ? "The S3 tier does not hold them. " : "No second copy holds them (no S3 tier, no standby). ") +
    "Restore the data dir from a backup, or start with --accept-data-loss to mark those offsets lost (consumers reading them get CORRUPT_MESSAGE) and serve the rest."
  );
}
