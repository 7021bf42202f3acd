// Typed metadata records: a metadata log written as JSON records (the on-disk format every existing data dir and S3
// metadata upload has) replays into every owner through its decoder; every owner's snapshot survives the JSON round
// trip unchanged; a malformed record stops replay with a message naming the record and the field.
import { afterEach, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/broker.ts";
import { MetadataLog, MetaLogError, encodeMetaRecord } from "../../src/meta/metadata-log.ts";
import type { RawRecord } from "../../src/meta/records.ts";
import { Catalog } from "../../src/meta/catalog.ts";
import { Log } from "../../src/log/log.ts";
import { Wal } from "../../src/wal/wal.ts";
import type { Partition } from "../../src/log/partition.ts";
import { GroupCoordinator } from "../../src/groups/coordinator.ts";
import { OffsetStore } from "../../src/groups/offsets.ts";
import { Manifest } from "../../src/s3/manifest.ts";
import { silentLogger } from "../../src/logger.ts";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const T = "0123456789abcdef0123456789abcdef";

/** Records as JSON objects, exactly as brokers before typed records wrote them (a group without "at" included). */
const OLD_RECORDS: RawRecord[] = [
  { type: "topic", name: "orders", id: T, partitions: 2, configs: { "retention.ms": "1000" } },
  { type: "partitions", id: T, partitions: 3 },
  { type: "topic-configs", id: T, configs: { "cleanup.policy": "compact" } },
  { type: "producer-ids", limit: 1000 },
  { type: "log-start", topic: T, partition: 1, offset: 7 },
  { type: "producers", topic: T, partition: 0, states: [[42, 1, 1700000000000, [[0, 4, 10, 14]]]] },
  {
    type: "group", id: "g", protocolType: "consumer", protocol: "range", generation: 3, leader: "m1",
    members: [{ id: "m1", instance: null, clientId: "c", clientHost: "/127.0.0.1", session: 10000, rebalance: 30000, metadata: "AAE=", assignment: "AAI=" }],
  },
  { type: "group", id: "gone", protocolType: null, protocol: null, generation: 0, leader: null, at: 5, members: [] },
  { type: "group-deleted", id: "gone" },
  { type: "offset", g: "g", t: "orders", p: 0, o: 15, e: -1, m: "", ts: 1700000000001 },
  { type: "offset", g: "g", t: "orders", p: 1, o: 9, e: 0, m: "x", ts: 1700000000002 },
  { type: "offset-deleted", g: "g", t: "orders", p: 1 },
  { type: "s3-object", t: T, p: 0, b: 0, l: 9, s: 100, n: 1, ts: 5, e: '"a"' },
  { type: "s3-object", t: T, p: 0, b: 10, l: 19, s: 100, n: 1, ts: 6, e: '"b"' },
  { type: "s3-compacted", t: T, p: 0, drop: [10], add: [{ b: 10, l: 19, s: 50, n: 1, ts: 6, e: '"c"' }] },
  { type: "s3-end", t: T, p: 0, o: 20 },
  { type: "s3-cleaned", t: T, p: 0, o: 10 },
  { type: "s3-trim", t: T, p: 0, before: 10 },
  { type: "s3-garbage", keys: ["k1", "k2"] },
  { type: "s3-deleted", keys: ["k1"] },
];

function open(path: string) {
  const meta = MetadataLog.open(path, silentLogger);
  const catalog = new Catalog(meta);
  const wal = new Wal<Partition>({ dir: join(path, "..", "wal"), segmentMaxBytes: 1 << 20, syncIntervalMs: 0, maxDiskBytes: 0, cacheBytes: 1 << 22, logger: silentLogger });
  const log = new Log(catalog, meta, wal, silentLogger);
  const groups = new GroupCoordinator(meta, { minSessionTimeoutMs: 6000, maxSessionTimeoutMs: 60000, initialRebalanceDelayMs: 0, offsetsRetentionMs: 1e9 }, silentLogger);
  const offsets = new OffsetStore(meta, catalog, groups);
  const manifest = new Manifest(catalog, "klite-c/");
  meta.register(manifest);
  return { meta, catalog, log, groups, offsets, manifest, owners: [catalog, log, groups, offsets, manifest] };
}

test("a metadata log of JSON records (the existing format) replays into every owner", async () => {
  const dir = tempDir();
  dirs.push(dir);
  const path = join(dir, "metadata.log");
  writeFileSync(path, Buffer.concat(OLD_RECORDS.map((r) => encodeMetaRecord(r))));
  const { meta, catalog, log, groups, offsets, manifest } = open(path);
  expect(meta.replay()).toBe(OLD_RECORDS.length);
  const t = catalog.topic("orders")!;
  expect(t.partitions).toBe(3);
  expect([...t.configs]).toEqual([["cleanup.policy", "compact"]]);
  expect(log.partition("orders", 1)!.logStartOffset).toBe(7);
  expect(log.partition("orders", 0)!.producers.producers.get(42)?.batches[0]).toMatchObject({ firstSeq: 0, lastSeq: 4, baseOffset: 10, lastOffset: 14 });
  const g = groups.group("g")!;
  expect(g.generationId).toBe(3);
  expect(g.state).toBe("Stable");
  expect([...g.members.get("m1")!.assignment]).toEqual([0, 2]);
  expect(groups.group("gone")).toBeUndefined();
  expect(offsets.get("g", "orders", 0)?.offset).toBe(15);
  expect(offsets.get("g", "orders", 1)).toBeUndefined();
  const po = manifest.partition(T, 0)!;
  expect(po.entries.map((e) => [e.base, e.last, e.etag])).toEqual([[10, 19, '"c"']]);
  expect([po.end, po.cleaned]).toEqual([20, 10]);
  expect([...manifest.garbage].sort()).toEqual(["k2", "klite-c/orders-0123456789abcdef0123456789abcdef/0/00000000000000000000.obj"]);
  meta.activate();
  groups.close();
  await meta.close();
});

test("every owner's snapshot decodes back to itself after the JSON round trip", async () => {
  const dir = tempDir();
  dirs.push(dir);
  const path = join(dir, "metadata.log");
  writeFileSync(path, Buffer.concat(OLD_RECORDS.map((r) => encodeMetaRecord(r))));
  const { meta, owners, groups } = open(path);
  meta.replay();
  let n = 0;
  for (const o of owners) {
    for (const rec of o.snapshot() as { type: string }[]) {
      const raw = JSON.parse(JSON.stringify(rec)) as RawRecord;
      expect((o as unknown as { decode(r: RawRecord): unknown }).decode(raw)).toEqual(raw);
      n++;
    }
  }
  expect(n).toBeGreaterThanOrEqual(9); // topic, producer ids, log start, producers, group, offset, object, end + cleaned, garbage
  groups.close();
  await meta.close();
});

test("a malformed record stops replay with a message naming the record and the field", async () => {
  for (const [bad, field] of [
    [{ type: "topic", name: "x", id: T, partitions: "3", configs: {} }, "partitions"],
    [{ type: "offset", g: "g", t: "orders", p: 0, e: -1, m: "", ts: 1 }, "o"],
    [{ type: "s3-compacted", t: T, p: 0, drop: [1], add: [{ b: 1 }] }, "l"],
    [{ type: "producers", topic: T, partition: 0, states: [[1, 2]] }, "states"],
    [{ type: "group", id: "g", protocolType: null, protocol: null, generation: 1, leader: null, members: [{ id: 5 }] }, "id"],
  ] as [RawRecord, string][]) {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir, "metadata.log");
    writeFileSync(path, Buffer.concat([encodeMetaRecord(OLD_RECORDS[0]!), encodeMetaRecord(bad)]));
    const { meta, groups } = open(path);
    let err: unknown;
    try {
      meta.replay();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MetaLogError);
    expect((err as Error).message).toContain("record 2 of 2");
    expect((err as Error).message).toContain(`"${field}"`);
    groups.close();
    await meta.close();
  }
});
