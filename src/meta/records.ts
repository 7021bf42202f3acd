// Metadata-log records, typed. On disk (and on the replication stream) a record is a JSON object with a string
// "type" (format in metadata-log.ts); each owner declares the union of its record types and one decoder that
// turns a raw JSON object into that union, checking every field, so replay is checked by the compiler and a
// malformed record is refused with a message naming it instead of being half-applied.
//
// Owners and their records:
//   catalog      meta/catalog-records.ts   topic, topic-deleted, topic-configs, partitions, producer-ids, broker-configs
//   log          log/records.ts            log-start, producers, lost, wal-skip
//   coordinator  groups/records.ts         group, group-deleted
//   offsets      groups/records.ts         offset, offset-deleted
//   manifest     s3/records.ts             s3-object, s3-compacted, s3-trim, s3-cleaned, s3-end, s3-garbage, s3-deleted
// A new owner adds its union to MetaRecord below.
import type { CatalogRecord } from "./catalog-records.ts";
import type { LogRecord } from "../log/records.ts";
import type { GroupRecord, OffsetRecord } from "../groups/records.ts";
import type { ManifestRecord } from "../s3/records.ts";

/** A record as parsed from JSON, before its owner decoded it. */
export interface RawRecord {
  type: string;
  [field: string]: unknown;
}

/** Every record the broker writes. */
export type MetaRecord = CatalogRecord | LogRecord | GroupRecord | OffsetRecord | ManifestRecord;

/** A stored record that does not have the fields its type requires. */
export class MetaRecordError extends Error {
  override name = "MetaRecordError";
}

function bad(r: RawRecord, field: string, want: string): MetaRecordError {
  return new MetaRecordError(`metadata record of type ${r.type}: field "${field}" is ${JSON.stringify(r[field]) ?? "missing"}, expected ${want}`);
}

// Field readers for decoders: each returns the field with its type or throws a MetaRecordError naming it.

export function str(r: RawRecord, f: string): string {
  const v = r[f];
  if (typeof v !== "string") throw bad(r, f, "a string");
  return v;
}

export function strOrNull(r: RawRecord, f: string): string | null {
  const v = r[f];
  if (v === null || v === undefined) return null;
  if (typeof v !== "string") throw bad(r, f, "a string or null");
  return v;
}

/** A safe integer (offsets, ids, counts, timestamps). */
export function int(r: RawRecord, f: string): number {
  const v = r[f];
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw bad(r, f, "an integer");
  return v;
}

export function intOr<D>(r: RawRecord, f: string, dflt: D): number | D {
  return r[f] === undefined ? dflt : int(r, f);
}

export function strOr<D>(r: RawRecord, f: string, dflt: D): string | D {
  return r[f] === undefined ? dflt : str(r, f);
}

export function list<T>(r: RawRecord, f: string, item: (v: unknown) => T | undefined, want: string): T[] {
  const v = r[f];
  if (!Array.isArray(v)) throw bad(r, f, `an array of ${want}`);
  return v.map((x) => {
    const out = item(x);
    if (out === undefined) throw bad(r, f, `an array of ${want}`);
    return out;
  });
}

export const asString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const asInt = (v: unknown): number | undefined => (typeof v === "number" && Number.isSafeInteger(v) ? v : undefined);

/** A JSON object of string values (topic configs); missing means empty. */
export function stringMap(r: RawRecord, f: string): Record<string, string> {
  const v = r[f];
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v) || Object.values(v).some((x) => typeof x !== "string")) throw bad(r, f, "an object of strings");
  return v as Record<string, string>;
}

/** A nested object inside a record (group members, compacted objects), read with the same helpers. */
export function nested(r: RawRecord, f: string, v: unknown): RawRecord {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(r, f, "an array of objects");
  return { ...(v as Record<string, unknown>), type: `${r.type}.${f}` };
}
