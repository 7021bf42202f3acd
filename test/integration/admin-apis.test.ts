// DeleteRecords, ListOffsets v9-10, OffsetForLeaderEpoch, DescribeLogDirs and DescribeProducers over the wire, with
// the answers Apache Kafka 4.4 gives for the same requests (compared by hand against a Kafka node started from the
// same jars as the Kafka-tools suite): Fetch and ListOffsets follow a moved log start, also after a restart.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { batches, buildBatch, decodeRecords } from "../../src/protocol/records.ts";

let b: TestBroker;
let c: RawClient;
const enc = new TextEncoder();

async function createTopic(name: string, partitions = 1, configs: [string, string][] = []) {
  const r = await c.request(19, 7, { topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: configs.map(([n, value]) => ({ name: n, value })) }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
}

async function produce(topic: string, partition: number, n: number, opts: { producerId?: number; producerEpoch?: number; baseSequence?: number } = {}) {
  const batch = buildBatch(Array.from({ length: n }, (_, i) => ({ key: enc.encode(`k${i}`), value: enc.encode(`v${i}`) })), opts);
  const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }] });
  expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
}

async function deleteRecords(parts: [string, number, bigint][]) {
  const topics = [...new Set(parts.map((p) => p[0]))].map((name) => ({ name, partitions: parts.filter((p) => p[0] === name).map(([, partitionIndex, offset]) => ({ partitionIndex, offset })) }));
  const r = await c.request(21, 2, { topics, timeoutMs: 5000 });
  return r.topics.flatMap((t: { name: string; partitions: { partitionIndex: number; lowWatermark: bigint; errorCode: number }[] }) => t.partitions.map((p) => [t.name, p.partitionIndex, p.errorCode, p.lowWatermark]));
}

async function listOffset(topic: string, timestamp: bigint, version = 10) {
  const r = await c.request(2, version, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, currentLeaderEpoch: -1, timestamp }] }], timeoutMs: 1000 });
  const p = r.topics[0].partitions[0];
  return { errorCode: p.errorCode as number, offset: Number(p.offset), leaderEpoch: p.leaderEpoch as number };
}

async function fetchFrom(topic: string, offset: bigint) {
  const r = await c.request(1, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: offset, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [], rackId: "" });
  return r.responses[0].partitions[0] as { errorCode: number; logStartOffset: bigint; highWatermark: bigint };
}

beforeAll(async () => {
  b = await startBroker({ autoCreateTopics: false });
  c = await RawClient.connect(b.port);
  await createTopic("dr", 2);
  await createTopic("dr-compact", 1, [["cleanup.policy", "compact"]]);
  for (let i = 0; i < 3; i++) await produce("dr", 0, 4); // offsets 0-11 in batches of four
});

afterAll(async () => {
  c.close();
  await b.stop();
  b.cleanup();
});

describe("DeleteRecords", () => {
  test("moves the log start; ListOffsets earliest and Fetch follow; an older offset changes nothing; survives a restart", async () => {
    expect(await deleteRecords([["dr", 0, 5n], ["dr", 1, 0n]])).toEqual([["dr", 0, 0, 5n], ["dr", 1, 0, 0n]]);
    expect((await listOffset("dr", -2n)).offset).toBe(5);
    expect((await fetchFrom("dr", 4n)).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    const f = await fetchFrom("dr", 5n);
    expect([f.errorCode, f.logStartOffset, f.highWatermark]).toEqual([0, 5n, 12n]);
    expect(await deleteRecords([["dr", 0, 2n]])).toEqual([["dr", 0, 0, 5n]]);
    c.close();
    b = await b.restart();
    c = await RawClient.connect(b.port);
    expect((await listOffset("dr", -2n)).offset).toBe(5);
    expect((await fetchFrom("dr", 4n)).errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    // The batch holding the new start (offsets 4-7) is still there after the WAL replay.
    const again = await fetchFrom("dr", 5n);
    expect([again.errorCode, again.highWatermark]).toEqual([0, 12n]);
    const recs = (again as unknown as { records: Uint8Array }).records;
    const offsets = [...batches(recs)].flatMap((bt) => decodeRecords(recs, bt.pos).map((r) => r.offset));
    expect(offsets).toEqual([4, 5, 6, 7, 8, 9, 10, 11]); // whole batches, as Kafka sends them
  });

  test("-1 deletes up to the high watermark", async () => {
    await produce("dr", 1, 3);
    expect(await deleteRecords([["dr", 1, -1n]])).toEqual([["dr", 1, 0, 3n]]);
    const r = await c.request(2, 10, { replicaId: -1, isolationLevel: 0, topics: [{ name: "dr", partitions: [{ partitionIndex: 1, currentLeaderEpoch: -1, timestamp: -2n }] }], timeoutMs: 1000 });
    expect(r.topics[0].partitions[0].offset).toBe(3n);
  });

  test("beyond the high watermark, a negative offset, a compacted topic, unknown partitions: Kafka's codes", async () => {
    expect(await deleteRecords([["dr", 0, 100n]])).toEqual([["dr", 0, ErrorCode.OFFSET_OUT_OF_RANGE, -1n]]);
    expect(await deleteRecords([["dr", 0, -5n]])).toEqual([["dr", 0, ErrorCode.OFFSET_OUT_OF_RANGE, -1n]]);
    expect(await deleteRecords([["dr-compact", 0, 0n]])).toEqual([["dr-compact", 0, ErrorCode.POLICY_VIOLATION, -1n]]);
    expect(await deleteRecords([["nope", 0, 1n], ["dr", 7, 1n]])).toEqual([["nope", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1n], ["dr", 7, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1n]]);
    expect((await listOffset("dr", -2n)).offset).toBe(5);
  });
});

describe("ListOffsets v9-10", () => {
  test("earliest-local (-4) is the log start without S3; latest-tiered (-5) is -1 with epoch -1; -6 needs v11", async () => {
    expect(await listOffset("dr", -4n)).toEqual({ errorCode: 0, offset: 5, leaderEpoch: 0 });
    expect(await listOffset("dr", -5n)).toEqual({ errorCode: 0, offset: -1, leaderEpoch: -1 });
    expect(await listOffset("dr", -5n, 8)).toMatchObject({ errorCode: ErrorCode.UNSUPPORTED_VERSION });
    expect(await listOffset("dr", -6n)).toMatchObject({ errorCode: ErrorCode.UNSUPPORTED_VERSION });
    expect(await listOffset("dr", -1n, 9)).toEqual({ errorCode: 0, offset: 12, leaderEpoch: 0 });
  });
});

describe("OffsetForLeaderEpoch", () => {
  test("epoch 0 ends at the high watermark, later epochs are unknown, currentLeaderEpoch fences", async () => {
    const r = await c.request(23, 4, { replicaId: -1, topics: [
      { topic: "dr", partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }, { partition: 1, currentLeaderEpoch: -1, leaderEpoch: 5 }] },
      { topic: "nope", partitions: [{ partition: 0, currentLeaderEpoch: -1, leaderEpoch: 0 }] },
    ] });
    const flat = r.topics.flatMap((t: { topic: string; partitions: { partition: number; errorCode: number; leaderEpoch: number; endOffset: bigint }[] }) => t.partitions.map((p) => [t.topic, p.partition, p.errorCode, p.leaderEpoch, p.endOffset]));
    expect(flat).toEqual([["dr", 0, 0, 0, 12n], ["dr", 1, 0, -1, -1n], ["nope", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, -1, -1n]]);
    const fenced = await c.request(23, 4, { replicaId: -1, topics: [{ topic: "dr", partitions: [{ partition: 0, currentLeaderEpoch: 0, leaderEpoch: -1 }, { partition: 1, currentLeaderEpoch: 7, leaderEpoch: 0 }] }] });
    expect(fenced.topics[0].partitions.map((p: { errorCode: number; endOffset: bigint }) => [p.errorCode, p.endOffset])).toEqual([[0, -1n], [ErrorCode.UNKNOWN_LEADER_EPOCH, -1n]]);
    const v0 = await c.request(23, 0, { topics: [{ topic: "dr", partitions: [{ partition: 0, leaderEpoch: 0 }] }] });
    expect(v0.topics[0].partitions[0].endOffset).toBe(12n);
  });
});

describe("DescribeLogDirs", () => {
  test("the data dir with every partition's bytes on disk and the file system's size; a topic filter", async () => {
    const all = await c.request(35, 4, { topics: null });
    expect(all.errorCode).toBe(0);
    const dir = all.results[0];
    expect(dir.logDir).toBe(b.dataDir);
    expect(dir.totalBytes).toBeGreaterThan(0n);
    expect(dir.usableBytes).toBeGreaterThan(0n);
    const dr = dir.topics.find((t: { name: string }) => t.name === "dr");
    const sizes = new Map(dr.partitions.map((p: { partitionIndex: number; partitionSize: bigint }) => [p.partitionIndex, p.partitionSize]));
    expect(sizes.get(0)).toBeGreaterThan(0n); // the batches above the log start
    expect(dir.topics.map((t: { name: string }) => t.name).sort()).toEqual(["dr", "dr-compact"]);
    const some = await c.request(35, 1, { topics: [{ topic: "dr", partitions: [0, 5] }, { topic: "nope", partitions: [0] }] });
    expect(some.results[0].topics.map((t: { name: string; partitions: { partitionIndex: number }[] }) => [t.name, t.partitions.map((p) => p.partitionIndex)])).toEqual([["dr", [0]]]);
  });
});

describe("DescribeProducers", () => {
  test("an idempotent producer's id, epoch and last sequence; unknown partitions", async () => {
    const init = await c.request(22, 4, { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 });
    const producerId = Number(init.producerId);
    await createTopic("idem");
    await produce("idem", 0, 3, { producerId, producerEpoch: 0, baseSequence: 0 });
    await produce("idem", 0, 2, { producerId, producerEpoch: 0, baseSequence: 3 });
    const r = await c.request(61, 0, { topics: [{ name: "idem", partitionIndexes: [0, 9] }, { name: "nope", partitionIndexes: [0] }] });
    const [p0, p9] = r.topics[0].partitions;
    expect(p0.errorCode).toBe(0);
    expect(p0.activeProducers).toHaveLength(1);
    expect(p0.activeProducers[0]).toMatchObject({ producerId: BigInt(producerId), producerEpoch: 0, lastSequence: 4, coordinatorEpoch: -1, currentTxnStartOffset: -1n });
    expect(Number(p0.activeProducers[0].lastTimestamp)).toBeGreaterThan(Date.now() - 60_000);
    expect(p9.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(r.topics[1].partitions[0]).toMatchObject({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: "This server does not host this topic-partition." });
  });
});
