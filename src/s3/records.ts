// The S3 manifest's metadata-log records (meaning in manifest.ts; see meta/records.ts for how records are typed
// and decoded). t = topic id, p = partition; an object is {b, l, s, n, ts, e}: base offset, last offset, bytes,
// batches, max timestamp, ETag.
import type { Uuid } from "../protocol/codec.ts";
import { MetaRecordError, asInt, asString, int, list, nested, str, type RawRecord } from "../meta/records.ts";

export interface ObjectFields {
  b: number;
  l: number;
  s: number;
  n: number;
  ts: number;
  e: string;
}

export type ManifestRecord =
  | ({ type: "s3-object"; t: Uuid; p: number } & ObjectFields)
  | { type: "s3-compacted"; t: Uuid; p: number; drop: number[]; add: ObjectFields[] }
  | { type: "s3-trim"; t: Uuid; p: number; before: number }
  | { type: "s3-cleaned"; t: Uuid; p: number; o: number }
  | { type: "s3-end"; t: Uuid; p: number; o: number }
  | { type: "s3-garbage"; keys: string[] }
  | { type: "s3-deleted"; keys: string[] };

export const MANIFEST_RECORD_TYPES = ["s3-object", "s3-compacted", "s3-trim", "s3-cleaned", "s3-end", "s3-garbage", "s3-deleted"] as const satisfies readonly ManifestRecord["type"][];

function objectFields(r: RawRecord): ObjectFields {
  return { b: int(r, "b"), l: int(r, "l"), s: int(r, "s"), n: int(r, "n"), ts: int(r, "ts"), e: str(r, "e") };
}

export function decodeManifestRecord(r: RawRecord): ManifestRecord {
  switch (r.type) {
    case "s3-object":
      return { type: "s3-object", t: str(r, "t"), p: int(r, "p"), ...objectFields(r) };
    case "s3-compacted":
      return {
        type: "s3-compacted",
        t: str(r, "t"),
        p: int(r, "p"),
        drop: list(r, "drop", asInt, "offsets"),
        add: list(r, "add", (v) => objectFields(nested(r, "add", v)), "objects"),
      };
    case "s3-trim":
      return { type: "s3-trim", t: str(r, "t"), p: int(r, "p"), before: int(r, "before") };
    case "s3-cleaned":
    case "s3-end":
      return { type: r.type, t: str(r, "t"), p: int(r, "p"), o: int(r, "o") };
    case "s3-garbage":
    case "s3-deleted":
      return { type: r.type, keys: list(r, "keys", asString, "keys") };
  }
  throw new MetaRecordError(`not a manifest record: ${r.type}`);
}
