// Hand-made record batches for tests of bad input: records written field by field (lengths may lie), sealed with a
// valid CRC so that only the broker's deeper validation can tell.
import { Writer } from "../../src/protocol/codec.ts";
import { compress } from "../../src/protocol/compression.ts";
import { BATCH_HEADER_SIZE, sealBatch, type NewBatchHeader } from "../../src/protocol/records.ts";

export interface RawRecord {
  /** Overrides the record's length prefix (default: the true length). */
  length?: number;
  tsDelta?: number;
  offsetDelta: number;
  key?: Uint8Array | null;
  /** Overrides the key length (default: the key's, -1 for null). */
  keyLength?: number;
  value?: Uint8Array | null;
  headers?: [string, Uint8Array | null][];
  /** Bytes appended inside the record after its headers. */
  trailing?: Uint8Array;
}

export function rawRecord(r: RawRecord): Uint8Array {
  const body = new Writer(64);
  body.i8(0);
  body.varlong(r.tsDelta ?? 0);
  body.varint(r.offsetDelta);
  const key = r.key ?? null;
  body.varint(r.keyLength ?? (key === null ? -1 : key.length));
  if (key) body.raw(key);
  const value = r.value === undefined ? new Uint8Array([1, 2, 3]) : r.value;
  body.varint(value === null ? -1 : value.length);
  if (value) body.raw(value);
  const hs = r.headers ?? [];
  body.varint(hs.length);
  for (const [k, v] of hs) {
    const kb = new TextEncoder().encode(k);
    body.varint(kb.length);
    body.raw(kb);
    body.varint(v === null ? -1 : v.length);
    if (v) body.raw(v);
  }
  if (r.trailing) body.raw(r.trailing);
  const out = new Writer(body.pos + 5);
  out.varint(r.length ?? body.pos);
  out.raw(body.finish());
  return out.finish().slice();
}

/** A batch of the given record bytes with a valid CRC; the header says `count` records (default: as many given). */
export function craftBatch(records: Uint8Array[], opts: Partial<NewBatchHeader> & { count?: number; compression?: number } = {}): Uint8Array {
  let n = 0;
  for (const r of records) n += r.length;
  const plain = new Uint8Array(n);
  let o = 0;
  for (const r of records) {
    plain.set(r, o);
    o += r.length;
  }
  const codec = opts.compression ?? 0;
  const payload = compress(codec, plain);
  const out = new Uint8Array(BATCH_HEADER_SIZE + payload.length);
  out.set(payload, BATCH_HEADER_SIZE);
  const now = Date.now();
  sealBatch(out, {
    baseOffset: 0,
    attributes: codec | (opts.attributes ?? 0),
    recordsCount: opts.count ?? records.length,
    baseTimestamp: opts.baseTimestamp ?? now,
    maxTimestamp: opts.maxTimestamp ?? now,
    producerId: opts.producerId ?? -1,
    producerEpoch: opts.producerEpoch ?? -1,
    baseSequence: opts.baseSequence ?? -1,
  });
  return out;
}
