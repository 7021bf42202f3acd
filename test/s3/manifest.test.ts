// Unit tests of the S3 bookkeeping over a real metadata log in a temp dir and the in-memory store twin: manifest
// records (apply and snapshot), retention decisions, and the reconciliation a restore does against a listing.
import { afterEach, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/broker.ts";
import { MemoryStore } from "../helpers/memory-store.ts";
import { Catalog } from "../../src/meta/catalog.ts";
import { MetadataLog, decodeMetaRecords } from "../../src/meta/metadata-log.ts";
import { silentLogger } from "../../src/logger.ts";
import { Manifest, entryRecord } from "../../src/s3/manifest.ts";
import type { ManifestRecord, ObjectFields } from "../../src/s3/records.ts";
import { decodeLogRecord, type LogRecord } from "../../src/log/records.ts";
import { ObjectReader } from "../../src/s3/reader.ts";
import { reconcile } from "../../src/s3/restore.ts";
import { retentionStart } from "../../src/s3/retention.ts";
import { encodeObject } from "../../src/s3/object.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import type { Partition } from "../../src/log/partition.ts";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

async function setup(image?: Uint8Array) {
  const dir = tempDir();
  dirs.push(dir);
  if (image) await Bun.write(join(dir, "metadata.log"), image);
  const meta = MetadataLog.open(join(dir, "metadata.log"), silentLogger);
  const catalog = new Catalog(meta);
  const manifest = new Manifest(catalog, "klite-c/");
  meta.register(manifest);
  meta.replay();
  return { meta, catalog, manifest };
}

const obj = (t: string, base: number, last: number, extra: Partial<ObjectFields> = {}): ManifestRecord => ({ type: "s3-object", t, p: 0, b: base, l: last, s: 100, n: 1, ts: 1000 + last, e: `"e${base}"`, ...extra });

test("manifest records: add, replace, compaction swap, trim, garbage and its deletion; the snapshot restores all", async () => {
  const { meta, catalog, manifest } = await setup();
  const t = await catalog.createTopic("orders", 1);
  await meta.append(obj(t.id, 0, 9), obj(t.id, 20, 29), obj(t.id, 10, 19), obj(t.id, 30, 39));
  const po = manifest.partition(t.id, 0)!;
  expect(po.entries.map((e) => e.base)).toEqual([0, 10, 20, 30]);
  expect(po.entries[1]!.key).toBe(`klite-c/orders-${t.id}/0/00000000000000000010.obj`);
  expect(po.end).toBe(40);
  expect(po.find(15)).toBe(1);
  expect(po.find(40)).toBe(4);
  await meta.append(obj(t.id, 30, 39, { e: '"again"' }));
  expect(po.entries.at(-1)!.etag).toBe('"again"');
  // Compaction merged 10..29 into the object at 10 and emptied the one at 30.
  await meta.append({ type: "s3-compacted", t: t.id, p: 0, drop: [10, 20], add: [entryRecord({ base: 10, last: 29, size: 50, batches: 2, maxTs: 5, etag: '"c"', key: "" })] });
  await meta.append({ type: "s3-compacted", t: t.id, p: 0, drop: [30], add: [] });
  expect(po.entries.map((e) => [e.base, e.last])).toEqual([[0, 9], [10, 29]]);
  expect(po.end).toBe(40); // compaction never lowers the flushed end
  expect([...manifest.garbage].map((k) => k.slice(-8))).toEqual(["0020.obj", "0030.obj"]);
  await meta.append({ type: "s3-trim", t: t.id, p: 0, before: 10 }, { type: "s3-cleaned", t: t.id, p: 0, o: 30 });
  expect(po.entries.map((e) => e.base)).toEqual([10]);
  expect(manifest.garbage.size).toBe(3);
  const snapshot = meta.image().buf;
  await meta.append({ type: "s3-deleted", keys: [...manifest.garbage].slice(0, 2) });
  expect(manifest.garbage.size).toBe(1);

  const again = await setup(snapshot);
  const po2 = again.manifest.partition(t.id, 0)!;
  expect(po2.entries).toEqual(po.entries);
  expect([po2.end, po2.cleaned]).toEqual([40, 30]);
  expect(again.manifest.garbage.size).toBe(3);
  await meta.close();
  await again.meta.close();
});

test("a deleted topic's objects become garbage", async () => {
  const { meta, catalog, manifest } = await setup();
  const t = await catalog.createTopic("gone", 1);
  await meta.append(obj(t.id, 0, 9), obj(t.id, 10, 19));
  await catalog.deleteTopic(t);
  expect(manifest.garbage.size).toBe(2);
  expect(decodeMetaRecords(meta.image().buf).records.filter((r) => r.type === "s3-garbage").length).toBe(1);
  await meta.close();
});

test("retention: retention.ms by the newest record of whole objects, retention.bytes counting unflushed data", async () => {
  const { meta, catalog, manifest } = await setup();
  const t = await catalog.createTopic("r", 1, [["retention.ms", "1000"], ["retention.bytes", "250"]]);
  await meta.append(obj(t.id, 0, 9, { ts: 100 }), obj(t.id, 10, 19, { ts: 5000 }), obj(t.id, 20, 29, { ts: 6000 }), obj(t.id, 30, 39, { ts: 7000 }));
  const po = manifest.partition(t.id, 0)!;
  const p = { topic: { meta: t }, logStartOffset: 0, unflushedBytes: 0 } as unknown as Partition;
  // now = 5500: only the first object is older than 1 s. The other 300 bytes stay above 250 only with all three.
  expect(retentionStart(p, po, 5500)).toBe(10);
  t.configs.set("retention.bytes", "150");
  expect(retentionStart(p, po, 5500)).toBe(20); // 200 bytes left ≥ 150, 100 would not be
  (p as { unflushedBytes: number }).unflushedBytes = 1000;
  expect(retentionStart(p, po, 5500)).toBe(40); // with unflushed data, every object may go
  t.configs = new Map([["retention.ms", "-1"], ["retention.bytes", "-1"]]);
  expect(retentionStart(p, po, 1e12)).toBeNull();
  t.configs = new Map([["cleanup.policy", "compact"], ["retention.ms", "1"]]);
  expect(retentionStart(p, po, 1e12)).toBeNull(); // not a delete topic
  await meta.close();
});

test("reconcile after a restore: adopts newer objects, drops vanished ones, rereads rewritten ones, discards compaction leftovers", async () => {
  const { meta, catalog, manifest } = await setup();
  const store = new MemoryStore();
  const t = await catalog.createTopic("r", 1);
  const prefix = `klite-c/r-${t.id}/0/`;
  const put = async (base: number, last: number) => {
    const batches = [];
    for (let o = base; o <= last; o += 5) batches.push(buildBatch(Array.from({ length: 5 }, () => ({ value: new Uint8Array([1]) })), { baseOffset: o }));
    return (await store.put(`${prefix}${String(base).padStart(20, "0")}.obj`, encodeObject(batches))).etag;
  };
  // The uploaded manifest knew 0..9, 10..19, 20..29. Since then: 0..9 expired, 20..29 was compacted with
  // 30..39 (flushed after the upload) into the object at 20, whose leftover 30..39 a crash kept; 40..49 is new.
  await put(0, 9);
  const e10 = await put(10, 19);
  const e20 = await put(20, 29);
  await meta.append(obj(t.id, 0, 9, { e: '"old"' }), obj(t.id, 10, 19, { e: e10 }), obj(t.id, 20, 29, { e: e20 }));
  await store.delete(`${prefix}00000000000000000000.obj`);
  await put(20, 39);
  await put(30, 39);
  await put(40, 49);
  const logStarts: number[] = [];
  meta.register<LogRecord>({ types: ["log-start"], decode: decodeLogRecord, apply: (r) => void (r.type === "log-start" && logStarts.push(r.offset)), snapshot: () => [] });
  const stats = await reconcile(catalog, manifest, store, new ObjectReader(store), meta, silentLogger);
  expect(stats).toEqual({ adopted: 1, dropped: 1, orphans: 1 });
  const po = manifest.partition(t.id, 0)!;
  expect(po.entries.map((e) => [e.base, e.last])).toEqual([[10, 19], [20, 39], [40, 49]]);
  expect(po.end).toBe(50);
  expect([...manifest.garbage].map((k) => k.slice(-8)).sort()).toEqual(["0000.obj", "0030.obj"]);
  expect(logStarts).toEqual([10]);
  await meta.close();
});
