// Retention and compaction on S3 against a real MinIO, verified with real consumers: the Java client (dump) and
// librdkafka (kcat). Retention deletes whole objects by retention.bytes and by retention.ms and moves the log start
// offset, which ListOffsets earliest and Fetch follow. Compaction keeps the newest record per key, drops old
// tombstones, keeps offsets, and consumers reading while it swaps objects see no error and no gap they cannot
// step over.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, waitFor, type TestBroker } from "../helpers/broker.ts";
import { javaClient, JAVA_PEER_NAME, runJava } from "../helpers/java-peer.ts";
import { minio, MINIO_PEER_NAME, s3Overrides, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer, kcat, run, type PeerResult } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { readTopic } from "../helpers/read-topic.ts";
import { buildBatch, type NewRecord } from "../../src/protocol/records.ts";
import { Compression } from "../../src/protocol/compression.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import type { Partition } from "../../src/log/partition.ts";

const peer = await minio();
const java = await javaClient();
const kc = await kcat();
const both: PeerResult = !peer.ok ? peer : !java.ok ? java : !kc.ok ? kc : peer;
let server: MinioServer;
let tb: TestBroker;
let c: RawClient;
const enc = new TextEncoder();
const HOUR = 3_600_000;

async function createTopic(name: string, configs: Record<string, string>): Promise<void> {
  const r = await c.request(19, 7, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })) }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
}

/** Appends one batch to partition 0; returns its base offset. */
async function produce(topic: string, records: NewRecord[], compression = 0): Promise<number> {
  const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch(records, { compression }) }] }] });
  const pr = r.responses[0].partitionResponses[0];
  expect(pr.errorCode).toBe(0);
  return Number(pr.baseOffset);
}

function part(topic: string): Partition {
  return tb.broker.log.partition(topic, 0)!;
}

async function flushed(topic: string): Promise<void> {
  await waitFor(() => part(topic).flushedOffset === part(topic).highWatermark, `${topic} flushed`, 30_000);
}

/** Lines "partition offset key value" from the Java consumer, from the log start to the end. */
async function javaDump(topic: string): Promise<string[][]> {
  const out = await runJava(["dump", "--bootstrap", tb.bootstrap, "--topic", topic, "--partitions", "1"]);
  return out.trim() === "" ? [] : out.trim().split("\n").map((l) => l.split(" "));
}

/** Lines "offset key value-length value" from kcat, from the log start to the end. */
async function kcatDump(topic: string): Promise<string[][]> {
  const out = await run([kc.ok ? kc.path : "kcat", "-b", tb.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %k %S %s\\n"], { timeoutMs: 120_000 });
  return out.trim() === "" ? [] : out.trim().split("\n").map((l) => l.split(" "));
}

async function earliest(topic: string): Promise<number> {
  const r = await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -2n }] }] });
  return Number(r.topics[0].partitions[0].offset);
}

describeWithPeer(`${MINIO_PEER_NAME} + ${JAVA_PEER_NAME} + kcat`, both, () => {
  beforeAll(async () => {
    server = await startMinio();
    await server.createBucket("maintenance");
    tb = await startBroker({
      ...s3Overrides(server, "maintenance", { flushIntervalMs: 100, targetObjectSize: 64 << 10 }),
      walSegmentMaxBytes: 64 << 10,
      retentionCheckIntervalMs: 300,
      compactionCheckIntervalMs: HOUR, // compaction is started by the test, to read while it runs
      compactionMinDirtyObjects: 2,
      compactionReadRate: 256 << 10,
    });
    c = await RawClient.connect(tb.port);
  }, 120_000);
  afterAll(async () => {
    c?.close();
    await tb?.stop();
    tb?.cleanup();
    await server?.stop();
  });

  test("retention.bytes deletes the oldest whole objects and moves the log start; consumers start there", async () => {
    await createTopic("by-size", { "retention.bytes": "100000" });
    const value = new Uint8Array(1000).fill(1);
    for (let i = 0; i < 50; i++) {
      await produce("by-size", Array.from({ length: 10 }, (_, j) => ({ key: enc.encode(`k${i * 10 + j}`), value })));
      if (i % 5 === 4) await flushed("by-size"); // several objects
    }
    await flushed("by-size");
    const objects = () => tb.broker.s3!.manifest.of(part("by-size")).entries;
    const size = () => objects().reduce((n, e) => n + e.size, 0);
    await waitFor(() => part("by-size").logStartOffset > 0 && size() - objects()[0]!.size < 100_000, "retention to move the log start", 30_000);
    const start = part("by-size").logStartOffset;
    expect(objects()[0]!.base).toBe(start); // whole objects only
    expect(size()).toBeGreaterThanOrEqual(100_000); // and no more than needed
    expect(await earliest("by-size")).toBe(start);
    // The deleted objects are gone from the bucket.
    await waitFor(() => tb.broker.s3!.manifest.garbage.size === 0, "garbage collected", 30_000);
    const listed = await server.store("maintenance").list(objects()[0]!.key.replace(/\d{20}\.obj$/, ""));
    expect(listed.objects.map((o) => o.key)).toEqual(objects().map((e) => e.key));
    // A fetch below the log start is out of range; consumers from the beginning start at the log start.
    const f = await c.request(1, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic: "by-size", partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "" });
    expect(f.responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect(Number(f.responses[0].partitions[0].logStartOffset)).toBe(start);
    const j = await javaDump("by-size");
    expect(j.map((l) => Number(l[1]))).toEqual(Array.from({ length: 500 - start }, (_, i) => start + i));
    const k = await kcatDump("by-size");
    expect(k.map((l) => Number(l[0]))).toEqual(Array.from({ length: 500 - start }, (_, i) => start + i));
    expect(k[0]![1]).toBe(`k${start}`);
  }, 120_000);

  test("retention.ms deletes objects whose newest record is older than it", async () => {
    await createTopic("by-time", { "retention.ms": String(HOUR) });
    const old = Date.now() - 2 * HOUR;
    for (let i = 0; i < 3; i++) {
      await produce("by-time", Array.from({ length: 20 }, (_, j) => ({ key: enc.encode(`old${i * 20 + j}`), value: enc.encode("x"), timestamp: old + i })));
      await flushed("by-time");
    }
    const fresh = await produce("by-time", Array.from({ length: 20 }, (_, j) => ({ key: enc.encode(`new${j}`), value: enc.encode("y") })));
    expect(fresh).toBe(60);
    await flushed("by-time");
    await waitFor(() => part("by-time").logStartOffset === 60, "the old objects to expire", 30_000);
    expect(await earliest("by-time")).toBe(60);
    const j = await javaDump("by-time");
    expect(j.map((l) => l[2])).toEqual(Array.from({ length: 20 }, (_, i) => `new${i}`));
    const k = await kcatDump("by-time");
    expect(k.map((l) => Number(l[0]))).toEqual(Array.from({ length: 20 }, (_, i) => 60 + i));
  }, 120_000);

  test("compaction keeps the newest record per key at its offset, drops old tombstones, and readers never stall", async () => {
    await createTopic("compacted", { "cleanup.policy": "compact", "delete.retention.ms": String(HOUR) });
    const newest = new Map<string, { offset: number; value: string | null }>();
    const value = (k: number, v: number) => `${"v".repeat(900)}-${k}-${v}`;
    let offset = 0;
    for (let round = 0; round < 30; round++) {
      const recs = Array.from({ length: 20 }, (_, k) => ({ key: enc.encode(`key${k}`), value: enc.encode(value(k, round)) }));
      const base = await produce("compacted", recs, round % 2 ? Compression.gzip : Compression.none);
      recs.forEach((_, k) => newest.set(`key${k}`, { offset: base + k, value: value(k, round) }));
      offset = base + 20;
      if (round % 3 === 2) await flushed("compacted");
    }
    // key0: a tombstone older than delete.retention.ms (goes); key1: a recent one (stays, value null).
    const t0 = await produce("compacted", [{ key: enc.encode("key0"), value: null, timestamp: Date.now() - 2 * HOUR }]);
    newest.delete("key0");
    const t1 = await produce("compacted", [{ key: enc.encode("key1"), value: null }]);
    newest.set("key1", { offset: t1, value: null });
    expect([t0, t1]).toEqual([offset, offset + 1]);
    const hw = offset + 2;
    await flushed("compacted");
    // Push the topic's batches out of the WAL (other topics fill newer segments), so reads come from S3.
    await createTopic("filler", {});
    for (let i = 0; i < 40; i++) await produce("filler", [{ value: new Uint8Array(8000) }]);
    await flushed("filler");
    await waitFor(() => part("compacted").index.length === 0, "the compacted topic out of the WAL", 30_000);
    expect(tb.broker.s3!.compactor.dirtyObjects(part("compacted"))).toBeGreaterThanOrEqual(2);

    // Readers run in a loop while compaction swaps objects under them.
    let stop = false;
    let rounds = 0;
    const raw = (async () => {
      while (!stop) {
        const recs = (await readTopic(tb.port, "compacted", { maxBytes: 16 << 10 })).get(0)!; // throws on an error or a stall
        for (let i = 1; i < recs.length; i++) expect(recs[i]!.offset).toBeGreaterThan(recs[i - 1]!.offset);
        expect(recs.at(-1)!.offset).toBe(hw - 1);
        rounds++;
      }
    })();
    const javaDuring = javaDump("compacted");
    const t = performance.now();
    await tb.broker.s3!.runCompaction();
    const took = performance.now() - t;
    const during = await javaDuring;
    stop = true;
    await raw;
    expect(rounds).toBeGreaterThan(0);
    expect(during.length).toBeGreaterThan(0);
    const stats = tb.broker.s3!.compactor.stats;
    expect(stats.compactions).toBe(1);
    expect(took).toBeGreaterThanOrEqual((stats.bytesRead / (256 << 10)) * 1000 - 1000); // paced at the read rate

    // After: exactly the newest record per key, at the offset it was produced at; the old tombstone is gone.
    const want = [...newest.entries()].map(([key, v]) => ({ key, ...v })).sort((a, b) => a.offset - b.offset);
    const j = await javaDump("compacted");
    expect(j.map((l) => [Number(l[1]), l[2], l[3] === "<null>" ? null : l[3]])).toEqual(want.map((w) => [w.offset, w.key, w.value]));
    const k = await kcatDump("compacted");
    expect(k.map((l) => [Number(l[0]), l[1], Number(l[2])])).toEqual(want.map((w) => [w.offset, w.key, w.value === null ? -1 : w.value.length]));
    expect(await earliest("compacted")).toBe(0);
    expect(part("compacted").highWatermark).toBe(hw);
    // Appends continue at the end; the next compaction has nothing dirty to do.
    expect(await produce("compacted", [{ key: enc.encode("key5"), value: enc.encode("later") }])).toBe(hw);
  }, 180_000);
});
