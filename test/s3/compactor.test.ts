// Unit tests of compaction over the in-memory store twin and a real metadata log: which records survive, where the
// result goes, and that reads through ColdReads step over everything that vanished (including a tail that ends in
// an expired tombstone).
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/broker.ts";
import { MemoryStore } from "../helpers/memory-store.ts";
import { Catalog } from "../../src/meta/catalog.ts";
import { MetadataLog } from "../../src/meta/metadata-log.ts";
import { silentLogger } from "../../src/logger.ts";
import { Manifest } from "../../src/s3/manifest.ts";
import { ObjectReader } from "../../src/s3/reader.ts";
import { ColdReads } from "../../src/s3/cold.ts";
import { Compactor } from "../../src/s3/compactor.ts";
import { encodeObject } from "../../src/s3/object.ts";
import { batches, buildBatch, decodeRecords, type NewRecord } from "../../src/protocol/records.ts";
import type { Partition } from "../../src/log/partition.ts";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const enc = new TextEncoder();
const dec = new TextDecoder();
const NOW = 10_000_000;

test("compaction keeps the newest record per key at its offset, merges objects, and never ends in a gap", async () => {
  const dir = tempDir();
  dirs.push(dir);
  const meta = MetadataLog.open(join(dir, "metadata.log"), silentLogger);
  const catalog = new Catalog(meta);
  const manifest = new Manifest(catalog, "klite-c/");
  meta.register(manifest);
  meta.replay();
  const store = new MemoryStore();
  const t = await catalog.createTopic("c", 1, [["cleanup.policy", "compact"], ["delete.retention.ms", "1000"]]);
  const p = { topic: { meta: t }, id: 0, deleted: false, logStartOffset: 0, toString: () => "c-0" } as unknown as Partition;

  // Three objects of two 3-record batches: keys a, b, c updated over and over; the very last record is a
  // tombstone for b older than delete.retention.ms; a has an old tombstone in the middle, then a new value.
  const rec = (key: string, value: string | null, ts = NOW): NewRecord => ({ key: enc.encode(key), value: value === null ? null : enc.encode(value), timestamp: ts });
  const plan: NewRecord[][] = [
    [rec("a", "a0"), rec("b", "b0"), rec("c", "c0")],
    [rec("a", null, 0), rec("b", "b1"), rec("c", "c1")],
    [rec("a", "a2"), rec("b", "b2"), rec("c", "c2")],
    [rec("a", "a3"), rec("b", "b3"), rec("x", "x3")],
    [rec("c", "c4"), rec("c", "c5"), rec("a", "a5")],
    [rec("x", "x6"), rec("c", "c6"), rec("b", null, 0)],
  ];
  for (let o = 0; o < 3; o++) {
    const bs = [0, 1].map((i) => buildBatch(plan[o * 2 + i]!, { baseOffset: (o * 2 + i) * 3, compression: i }));
    const key = manifest.keyFor(p, o * 6);
    const { etag } = await store.put(key, encodeObject(bs));
    await meta.append(manifest.objectRecord(p, { base: o * 6, last: o * 6 + 5, size: 0, batches: 2, maxTs: NOW, etag }));
  }
  const compactor = new Compactor(manifest, store, meta, { minDirtyObjects: 2, readRate: 1 << 30, targetBytes: 1 << 20 }, silentLogger);
  expect(compactor.dirtyObjects(p)).toBe(3);
  await compactor.compact(p, NOW + 5000);

  const po = manifest.of(p);
  expect(po.entries.map((e) => [e.base, e.last])).toEqual([[0, 17]]); // one object under the first key
  expect([...manifest.garbage].map((k) => k.slice(-6))).toEqual(["06.obj", "12.obj"]);
  expect(po.cleaned).toBe(18);
  expect(compactor.dirtyObjects(p)).toBe(0);
  const whole = (await store.get(po.entries[0]!.key)).body;
  const footerStart = whole.length - (po.entries[0]!.batches * 36 + 8);
  const kept = [...batches(whole.subarray(0, footerStart))].flatMap((b) => decodeRecords(whole, b.pos));
  // Newest per key: a5@14, x6@15, c6@16, and b's expired tombstone@17 stays because it is the newest record.
  expect(kept.map((r) => [r.offset, dec.decode(r.key!), r.value === null ? null : dec.decode(r.value)])).toEqual([
    [14, "a", "a5"], [15, "x", "x6"], [16, "c", "c6"], [17, "b", null],
  ]);
  // Emptied batches are gone; the kept ones still span their whole offset range.
  expect([...batches(whole.subarray(0, footerStart))].map((b) => [b.baseOffset, b.header.lastOffsetDelta])).toEqual([[12, 2], [15, 2]]);

  // Reading from any offset steps to the next record that is left.
  const cold = new ColdReads(manifest, new ObjectReader(store));
  for (const [from, first] of [[0, 12], [7, 12], [13, 12], [16, 15], [17, 15]]) {
    const r = await cold.read(p, from!, 1 << 20, true);
    expect([...batches(r!.records[0]!)][0]!.baseOffset).toBe(first!);
  }
  expect(await cold.read(p, 18, 1 << 20, true)).toBeNull();
  await meta.close();
});
