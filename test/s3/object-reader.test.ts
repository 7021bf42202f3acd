// Unit tests of the S3 object format (object.ts), the reader (reader.ts, over the in-memory store twin) and the
// record filter compaction uses (retainRecords in records.ts).
import { describe, expect, test } from "bun:test";
import { MemoryStore } from "../helpers/memory-store.ts";
import { decodeFooter, encodeObject, footerBytes, ObjectFormatError, type Footer } from "../../src/s3/object.ts";
import { ObjectReader } from "../../src/s3/reader.ts";
import { baseOffsetOfKey, clusterRoot, objectKey, partitionPrefix } from "../../src/s3/keys.ts";
import { Attr, batchIsIntact, buildBatch, decodeRecords, readBatchHeader, retainRecords } from "../../src/protocol/records.ts";
import { Compression } from "../../src/protocol/compression.ts";

const enc = new TextEncoder();

/** n batches of `per` records each, offsets contiguous from `from`, timestamps 1000 + offset. */
function makeBatches(n: number, per: number, from = 0, valueBytes = 50): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = from;
  for (let b = 0; b < n; b++) {
    const records = Array.from({ length: per }, (_, i) => ({ key: enc.encode(`k${(offset + i) % 7}`), value: new Uint8Array(valueBytes).fill((offset + i) & 0xff), timestamp: 1000 + offset + i }));
    out.push(buildBatch(records, { baseOffset: offset }));
    offset += per;
  }
  return out;
}

function footerOf(obj: Uint8Array): Footer {
  const f = decodeFooter(obj, obj.length);
  if ("need" in f) throw new Error("footer incomplete");
  return f;
}

describe("object format", () => {
  test("the footer describes exactly the batches laid back to back", () => {
    const batches = makeBatches(5, 3, 100);
    const obj = encodeObject(batches);
    const f = footerOf(obj);
    expect(f.count).toBe(5);
    expect(obj.length).toBe(batches.reduce((n, b) => n + b.length, 0) + footerBytes(5));
    let pos = 0;
    batches.forEach((b, i) => {
      const h = readBatchHeader(b);
      expect(f.base[i]).toBe(100 + 3 * i);
      expect(f.pos[i]).toBe(pos);
      expect(f.size[i]).toBe(b.length);
      expect(f.lastDelta[i]).toBe(2);
      expect(f.maxTs[i]).toBe(h.maxTimestamp);
      expect(f.records[i]).toBe(3);
      expect(Buffer.from(obj.subarray(pos, pos + b.length)).equals(Buffer.from(b))).toBe(true);
      pos += b.length;
    });
    expect(f.dataBytes).toBe(pos);
    expect(f.firstOffset).toBe(100);
    expect(f.lastOffset).toBe(114);
    expect(f.maxTimestamp).toBe(1000 + 114);
    expect(f.find(0)).toBe(0);
    expect(f.find(104)).toBe(1);
    expect(f.find(114)).toBe(4);
    expect(f.find(115)).toBe(5);
    expect(f.findTimestamp(1000 + 107)).toBe(2);
  });

  test("a short tail asks for exactly the bytes it needs; the exact tail decodes", () => {
    const obj = encodeObject(makeBatches(40, 2));
    const short = decodeFooter(obj.subarray(obj.length - 100), obj.length);
    expect(short).toEqual({ need: footerBytes(40) });
    const exact = decodeFooter(obj.subarray(obj.length - footerBytes(40)), obj.length);
    expect("count" in exact && exact.count).toBe(40);
  });

  test("foreign, truncated or inconsistent objects are refused", () => {
    const obj = encodeObject(makeBatches(3, 2));
    expect(() => decodeFooter(new Uint8Array(4), 4)).toThrow(ObjectFormatError);
    const bad = obj.slice();
    bad[bad.length - 1] = 0x30; // magic
    expect(() => decodeFooter(bad, bad.length)).toThrow(ObjectFormatError);
    expect(() => decodeFooter(obj.subarray(100), obj.length - 100)).toThrow(ObjectFormatError); // lost its head
    const shifted = obj.slice();
    const dv = new DataView(shifted.buffer);
    const f0 = shifted.length - footerBytes(3);
    dv.setUint32(f0 + 36 + 12, dv.getUint32(f0 + 36 + 12) + 1); // entry 1 position
    expect(() => decodeFooter(shifted, shifted.length)).toThrow(ObjectFormatError);
  });

  test("keys: documented layout, zero-padded offsets in lexical order, no leading slash without a prefix", () => {
    expect(clusterRoot("", "abc")).toBe("klite-abc/");
    expect(clusterRoot("/team/a/", "abc")).toBe("team/a/klite-abc/");
    const key = objectKey(partitionPrefix(clusterRoot("p", "c1"), "orders", "0123456789abcdef0123456789abcdef", 3), 42);
    expect(key).toBe("p/klite-c1/orders-0123456789abcdef0123456789abcdef/3/00000000000000000042.obj");
    expect(baseOffsetOfKey(key)).toBe(42);
    expect(objectKey("x/", 9) < objectKey("x/", 10)).toBe(true);
  });
});

describe("object reader", () => {
  test("one GET for the footer (sized by the batch count), one GET for exactly the batches wanted; footers are cached", async () => {
    const store = new MemoryStore();
    const batches = makeBatches(10, 4);
    await store.put("o", encodeObject(batches));
    const reader = new ObjectReader(store);
    store.calls.get = 0;
    const r = await reader.read("o", 9, 2 * batches[0]!.length + 10, true, 10);
    expect(store.calls.get).toBe(2);
    expect(r!.bytes).toBe(batches[2]!.length + batches[3]!.length);
    expect(Buffer.from(r!.data).equals(Buffer.concat([batches[2]!, batches[3]!]))).toBe(true);
    await reader.read("o", 30, 1 << 20, true, 10);
    expect(store.calls.get).toBe(3); // the footer came from the cache
  });

  test("minOne returns a batch larger than maxBytes; without it nothing; past the end null", async () => {
    const store = new MemoryStore();
    const batches = makeBatches(3, 2, 10);
    await store.put("o", encodeObject(batches));
    const reader = new ObjectReader(store);
    expect((await reader.read("o", 10, 5, true))!.bytes).toBe(batches[0]!.length);
    expect((await reader.read("o", 10, 5, false))!.bytes).toBe(0);
    expect(await reader.read("o", 16, 1 << 20, true)).toBeNull();
  });

  test("an unknown batch count costs a second GET only when the footer is larger than the guess", async () => {
    const store = new MemoryStore();
    await store.put("big", encodeObject(makeBatches(2500, 1, 0, 1)));
    const reader = new ObjectReader(store);
    const f = await reader.footer("big");
    expect(f.footer.count).toBe(2500);
    expect(store.calls.get).toBe(2);
  });

  test("an object replaced after its footer was cached is read through its new footer", async () => {
    const store = new MemoryStore();
    const before = makeBatches(6, 2, 0);
    await store.put("o", encodeObject(before));
    const reader = new ObjectReader(store);
    await reader.footer("o", 6);
    const after = [before[0]!, before[3]!, before[5]!]; // compaction dropped some batches
    await store.put("o", encodeObject(after));
    const r = await reader.read("o", 2, 1 << 20, true, 6);
    expect(Buffer.from(r!.data).equals(Buffer.concat([before[3]!, before[5]!]))).toBe(true);
  });
});

test("a cached footer of an older version is not trusted when the manifest names another ETag", async () => {
  // Compaction merged the object at 0 (offsets 0..3) with the next one (4..7) under the same key. A footer cached
  // before says the object ends at 3, so a read at 5 would find nothing there without any GET to notice.
  const store = new MemoryStore();
  const all = makeBatches(4, 2, 0);
  await store.put("o", encodeObject(all.slice(0, 2)));
  const reader = new ObjectReader(store);
  await reader.footer("o", 2);
  const { etag } = await store.put("o", encodeObject([all[0]!, all[2]!, all[3]!]));
  expect(await reader.read("o", 5, 1 << 20, true, 2)).toBeNull(); // trusting the stale footer
  const r = await reader.read("o", 5, 1 << 20, true, 3, etag);
  expect(Buffer.from(r!.data).equals(Buffer.concat([all[2]!, all[3]!]))).toBe(true);
});

describe("retainRecords (compaction's record filter)", () => {
  for (const [name, codec] of Object.entries(Compression)) {
    test(`keeps the chosen records of a ${name} batch; base offset and last offset delta stay`, () => {
      const records = Array.from({ length: 10 }, (_, i) => ({ key: enc.encode(`key-${i}`), value: i === 7 ? null : enc.encode(`value-${i}`), timestamp: 5000 + i }));
      const batch = buildBatch(records, { baseOffset: 300, compression: codec, producerId: 7, producerEpoch: 1, baseSequence: 40 });
      const seen: number[] = [];
      const out = retainRecords(batch, (r) => {
        seen.push(r.offset);
        expect(r.tombstone).toBe(r.offset === 307);
        return r.offset % 3 === 0;
      })!;
      expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => 300 + i));
      expect(batchIsIntact(out)).toBe(true);
      const h = readBatchHeader(out);
      expect(h.lastOffsetDelta).toBe(9);
      expect(h.recordsCount).toBe(4);
      expect(h.attributes & Attr.compressionMask).toBe(codec);
      expect([h.producerId, h.producerEpoch, h.baseSequence]).toEqual([7, 1, 40]);
      expect(h.maxTimestamp).toBe(5009);
      expect(new DataView(out.buffer, out.byteOffset).getInt32(4)).toBe(300); // base offset (low word)
      const kept = decodeRecords(out);
      expect(kept.map((r) => r.offset)).toEqual([300, 303, 306, 309]);
      expect(kept.map((r) => new TextDecoder().decode(r.value!))).toEqual(["value-0", "value-3", "value-6", "value-9"]);
      expect(kept.map((r) => r.timestamp)).toEqual([5000, 5003, 5006, 5009]);
    });
  }

  test("all kept: the same bytes; none kept: null; control batches are never touched", () => {
    const batch = buildBatch([{ key: enc.encode("a"), value: enc.encode("1") }], { baseOffset: 5 });
    expect(retainRecords(batch, () => true)).toBe(batch);
    expect(retainRecords(batch, () => false)).toBeNull();
    const control = batch.slice();
    const dv = new DataView(control.buffer);
    dv.setInt16(21, Attr.control | Attr.transactional);
    expect(retainRecords(control, () => false)).toBe(control);
  });
});
