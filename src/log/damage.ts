// What corruption in the WAL costs, partition by partition, and what can be done about it (issue 12 "Corruption").
//
// The WAL reports each damaged range (wal/recovery.ts) with what the damaged entries' headers still say when their
// lengths chain, and each missing segment file (nothing of it known); replay also sees, per partition, a gap between two entries that should follow each other. From
// both, every partition's affected offsets: exact where a later entry of the partition bounds the gap, taken from
// the damaged headers where they are readable, else unknown (from the partition's last intact offset on, for as
// many records as the damaged bytes could hold). Then each range is:
//   - restored: the S3 tier holds it (reads of those offsets go to S3, the second copy);
//   - lost: no second copy holds it. The broker refuses to start, naming the file, the bytes and the records, unless
//     --accept-data-loss says to start anyway: the range is then recorded as lost (reads get CORRUPT_MESSAGE, never a
//     silent skip) and offsets continue after it (no acknowledged offset is handed out twice).
import type { Uuid } from "../protocol/codec.ts";
import type { Partition } from "./partition.ts";
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

import { DataLossError } from "../meta/meta-recovery.ts";
export { DataLossError };

/**
 * A start refused for WAL damage no second copy holds. `found` says what is damaged and which records; the message
 * adds what to do without a peer (replicated mode, damaged-wal.ts, gives the peer's answer instead).
 */
export class WalDataLossError extends DataLossError {
  // name stays DataLossError's: what users and logs see is the same kind of refusal.
  constructor(readonly found: string, advice: string) {
    super(`${found} ${advice}`);
  }
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
  return d.missing ? `${d.file} (missing)` : `${d.file} bytes ${d.from}-${d.to}`;
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

/** The refused start: what is damaged, which records, why no copy helps, and the way out. */
export function refusal(damages: WalDamage[], lost: string[], s3: boolean): WalDataLossError {
  const damaged = damages.filter((d) => !d.missing);
  const missing = damages.filter((d) => d.missing);
  const what = lost.join(", ");
  const found: string[] = [];
  if (damaged.length) found.push(`${damaged.map(describeDamage).join("; ")} ${damaged.length === 1 ? "fails its" : "fail their"} checksums and intact entries follow (not a torn write)`);
  if (missing.length) {
    const files = missing.map((d) => d.file).join(", ");
    found.push(`the segment file${missing.length === 1 ? ` ${files} is` : `s ${files} are`} missing (deleted or lost from the data dir: the next segment or the clean-shutdown mark names ${missing.length === 1 ? "it" : "them"})`);
  }
  return new WalDataLossError(
    `WAL corruption: ${found.join("; ")}. ` +
      `Acknowledged records affected: ${what}. ` +
      (s3 ? "The S3 tier does not hold them." : "No second copy holds them (no S3 tier, no standby)."),
    "Restore the data dir from a backup, or start with --accept-data-loss to mark those offsets lost (consumers reading them get CORRUPT_MESSAGE) and serve the rest.",
  );
}

/** What assessDamage needs of the log. */
export interface DamageContext {
  partition(topic: Uuid, id: number): Partition | undefined;
  partitions(): Iterable<Partition>;
  /** One past the highest offset of p the S3 tier holds (0 without it). */
  inS3(p: Partition): number;
  name(topic: Uuid): string;
}

/**
 * The offsets damaged WAL ranges held, split into what S3 restores and what is lost. `gaps` are the ranges replay
 * found missing between two entries of a partition (exact). `describe` words a lost range for messages.
 */
export function assessDamage(damages: WalDamage[], gaps: OffsetRange[], ctx: DamageContext): { restored: OffsetRange[]; lost: OffsetRange[]; describe: (r: OffsetRange) => string } {
  const affected: OffsetRange[] = [...gaps];
  const unknown: OffsetRange[] = [];
  for (const d of damages) {
    if (d.entries) {
      for (const u of d.entries) {
        const p = ctx.partition(u.topicId, u.partition);
        if (!p || u.lastOffset < p.logStartOffset) continue; // gone since, or below the log start anyway
        const slot = p.index.find(u.baseOffset);
        if (slot >= 0 && p.index.base[slot]! <= u.baseOffset) continue; // an intact copy was replayed
        affected.push({ topic: u.topicId, partition: u.partition, start: Math.max(u.baseOffset, p.logStartOffset), end: u.lastOffset });
      }
      continue;
    }
    // The damage hit the entries' lengths (or the whole segment is missing): any partition with no intact entry after
    // it may have lost records from its last offset on (partitions with a later entry have their loss as a gap).
    for (const p of ctx.partitions()) {
      const idx = p.index;
      const last = idx.end - 1;
      if (idx.length > 0 && (idx.seg[last]! > d.segment || (idx.seg[last]! === d.segment && idx.pos[last]! > d.from))) continue;
      unknown.push({ topic: p.topic.meta.id, partition: p.id, start: p.nextOffset, end: p.nextOffset + maxRecordsIn(d.missing ? d.missing.capacity : d.to - d.from) - 1 });
    }
  }
  const restored: OffsetRange[] = [];
  const lost: OffsetRange[] = [];
  for (const r of mergeRanges([...affected, ...unknown])) {
    const inS3 = ctx.inS3(ctx.partition(r.topic, r.partition)!); // S3 holds every offset below this
    if (r.start < inS3) restored.push({ ...r, end: Math.min(r.end, inS3 - 1) });
    if (r.end >= inS3) lost.push({ ...r, start: Math.max(r.start, inS3) });
  }
  const isUnknown = (r: OffsetRange) => unknown.some((u) => u.topic === r.topic && u.partition === r.partition && r.end >= u.end);
  const describe = (r: OffsetRange) =>
    isUnknown(r) ? `${ctx.name(r.topic)}-${r.partition} offsets from ${r.start} on (how many is unknown: ${damages.some((d) => d.missing) ? "a missing segment held them, or none" : "the damage hit the entries' lengths"})` : describeRange(r, ctx.name);
  return { restored, lost, describe };
}
