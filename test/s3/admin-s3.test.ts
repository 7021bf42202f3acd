// The admin APIs with the S3 tier, against a real MinIO: DeleteRecords moves the log start into the middle of S3
// objects and of unflushed data (the memory pool's count follows), the next retention check deletes the objects
// wholly below it from the bucket, consumers read on from the new start, and ListOffsets earliest-local (-4) and
// latest-tiered (-5) say truthfully what is on this node's disk and what is in S3.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, waitFor, type TestBroker } from "../helpers/broker.ts";
import { minio, MINIO_PEER_NAME, s3Overrides, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { batches, buildBatch, decodeRecords } from "../../src/protocol/records.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import type { Partition } from "../../src/log/partition.ts";

const peer = await minio();
let server: MinioServer;
let tb: TestBroker;
let c: RawClient;
const enc = new TextEncoder();

async function createTopic(name: string): Promise<void> {
  const r = await c.request(19, 7, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
}

/** Ten 1 KB records in one batch; returns its base offset. */
async function produce(topic: string): Promise<number> {
  const value = new Uint8Array(1000).fill(7);
  const batch = buildBatch(Array.from({ length: 10 }, (_, i) => ({ key: enc.encode(`k${i}`), value })));
  const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
  expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
  return Number(r.responses[0].partitionResponses[0].baseOffset);
}

const part = (topic: string): Partition => tb.broker.log.partition(topic, 0)!;

async function listOffset(topic: string, timestamp: bigint): Promise<number> {
  const r = await c.request(2, 10, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp }] }], timeoutMs: 5000 });
  expect(r.topics[0].partitions[0].errorCode).toBe(0);
  return Number(r.topics[0].partitions[0].offset);
}

async function deleteRecords(topic: string, offset: bigint): Promise<[number, bigint]> {
  const r = await c.request(21, 2, { topics: [{ name: topic, partitions: [{ partitionIndex: 0, offset }] }], timeoutMs: 5000 });
  const p = r.topics[0].partitions[0];
  return [p.errorCode, p.lowWatermark];
}

async function fetchOffsets(topic: string, offset: bigint): Promise<{ errorCode: number; offsets: number[] }> {
  const r = await c.request(1, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: offset, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [], rackId: "" });
  const p = r.responses[0].partitions[0];
  const offsets: number[] = [];
  const recs: Uint8Array | null = p.records;
  if (recs) for (const b of batches(recs)) for (const x of decodeRecords(recs, b.pos)) offsets.push(x.offset);
  return { errorCode: p.errorCode, offsets };
}

describeWithPeer(MINIO_PEER_NAME, peer, () => {
  beforeAll(async () => {
    server = await startMinio();
    await server.createBucket("admin");
    // Flushes are started by the test (flushOne), so what is in S3 and what only in the WAL is known exactly.
    tb = await startBroker({ ...s3Overrides(server, "admin", { flushIntervalMs: 3_600_000, targetObjectSize: 64 << 20 }), walSegmentMaxBytes: 64 << 10, retentionCheckIntervalMs: 200 });
    c = await RawClient.connect(tb.port);
  }, 120_000);
  afterAll(async () => {
    c?.close();
    await tb?.stop();
    tb?.cleanup();
    await server?.stop();
  });

  test("DeleteRecords into S3 objects: objects wholly below the new start leave the bucket at the next retention check; reads go on from there", async () => {
    await createTopic("dr-s3");
    const tier = tb.broker.s3!;
    for (let i = 0; i < 3; i++) {
      await produce("dr-s3");
      expect(await tier.flusher.flushOne(part("dr-s3"))).toBe(true); // objects [0-9], [10-19], [20-29]
    }
    await produce("dr-s3"); // [30-39] only in the WAL
    expect(await listOffset("dr-s3", -5n)).toBe(29); // the last offset in S3
    const objects = () => tier.manifest.of(part("dr-s3")).entries;
    expect(objects().map((e) => [e.base, e.last])).toEqual([[0, 9], [10, 19], [20, 29]]);
    const prefix = objects()[0]!.key.replace(/\d{20}\.obj$/, "");

    expect(await deleteRecords("dr-s3", 15n)).toEqual([0, 15n]);
    expect(await listOffset("dr-s3", -2n)).toBe(15);
    await waitFor(() => objects()[0]?.base === 10 && tier.manifest.garbage.size === 0, "the object below the log start deleted", 30_000);
    const listed = await server.store("admin").list(prefix);
    expect(listed.objects.map((o) => o.key)).toEqual(objects().map((e) => e.key));
    expect((await fetchOffsets("dr-s3", 14n)).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    const f = await fetchOffsets("dr-s3", 15n); // the whole batch [10-19] comes back, as Kafka sends it
    expect(f.errorCode).toBe(0);
    expect(f.offsets).toContain(15);
    expect(await listOffset("dr-s3", -5n)).toBe(29);
  }, 120_000);

  test("earliest-local (-4) is the first offset the WAL still holds once flushed segments are gone", async () => {
    await createTopic("local");
    const tier = tb.broker.s3!;
    for (let i = 0; i < 12; i++) await produce("local"); // ~120 KB: the WAL rolls its 64 KiB segments
    expect(await tier.flusher.flushAll(Date.now() + 30_000)).toBe(true); // every partition: segments go only when all of them are in S3
    await tb.broker.log.releaseFlushed();
    const start = await listOffset("local", -4n);
    expect(start).toBeGreaterThan(0); // the oldest segment went: those offsets are only in S3 now
    expect(start).toBeLessThanOrEqual(120);
    expect(await listOffset("local", -2n)).toBe(0);
    expect(await listOffset("local", -5n)).toBe(119);
    expect((await fetchOffsets("local", 0n)).offsets[0]).toBe(0); // read from S3
  }, 120_000);

  test("DeleteRecords past unflushed data gives its share of the memory pool back and nothing of it goes to S3", async () => {
    await createTopic("unflushed");
    const p = part("unflushed");
    for (let i = 0; i < 3; i++) await produce("unflushed");
    expect(p.unflushedBytes).toBeGreaterThan(30_000);
    const poolBefore = tb.broker.log.unflushedBytes;
    expect(await deleteRecords("unflushed", -1n)).toEqual([0, 30n]);
    expect(p.unflushedBytes).toBe(0);
    expect(tb.broker.log.unflushedBytes).toBeLessThanOrEqual(poolBefore - 30_000);
    expect(await tb.broker.s3!.flusher.flushOne(p)).toBe(false);
    await produce("unflushed"); // offsets go on
    expect(await listOffset("unflushed", -1n)).toBe(40);
    expect((await fetchOffsets("unflushed", 30n)).offsets[0]).toBe(30);
  }, 60_000);
});
