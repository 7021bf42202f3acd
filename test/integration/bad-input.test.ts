// Bad input: each case gets the error Apache Kafka gives (or a closed connection with a log line), nothing bad is
// stored, and the broker keeps serving a second, well-behaved connection throughout.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { buildBatch, batches } from "../../src/protocol/records.ts";
import { Writer } from "../../src/protocol/codec.ts";

let b: TestBroker;
let healthy: RawClient;

const enc = new TextEncoder();
const batchOf = (n: number, prefix = "v") => buildBatch(Array.from({ length: n }, (_, i) => ({ key: enc.encode(`k${i}`), value: enc.encode(`${prefix}${i}`) })));

function produce(topic: string, partition: number, records: Uint8Array | null, acks = -1) {
  return { transactionalId: null, acks, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records }] }] };
}

async function produceError(c: RawClient, topic: string, records: Uint8Array | null, version = 9): Promise<{ errorCode: number; errorMessage?: string | null }> {
  const r = await c.request(0, version, produce(topic, 0, records));
  return r.responses[0].partitionResponses[0];
}

async function highWatermark(c: RawClient, topic: string): Promise<bigint> {
  const r = await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp: -1n }] }] });
  return r.topics[0].partitions[0].offset;
}

/** The other connection still gets answers. */
async function stillServing(): Promise<void> {
  const r = await healthy.request(18, 3, { clientSoftwareName: "test", clientSoftwareVersion: "1" });
  expect(r?.errorCode).toBe(0);
}

beforeAll(async () => {
  b = await startBroker({ autoCreateTopics: false });
  healthy = await RawClient.connect(b.port);
  const r = await healthy.request(19, 7, { topics: [{ name: "ok", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
});

afterAll(async () => {
  healthy.close();
  await b.stop();
  b.cleanup();
});

describe("malformed frames close only that connection", () => {
  test("random bytes", async () => {
    const c = await RawClient.connect(b.port);
    const junk = crypto.getRandomValues(new Uint8Array(4096));
    new DataView(junk.buffer).setInt32(0, junk.length - 4); // a complete frame of garbage, so the broker must judge it
    c.sendRaw(junk);
    await c.closed;
    expect(c.isClosed).toBe(true);
    await stillServing();
  });

  test("a length prefix of 2 GiB is refused without allocating", async () => {
    const c = await RawClient.connect(b.port);
    c.sendRaw(new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 0]));
    await c.closed;
    await stillServing();
  });

  test("a negative length prefix", async () => {
    const c = await RawClient.connect(b.port);
    c.sendRaw(new Uint8Array([0xff, 0xff, 0xff, 0xf0]));
    await c.closed;
    await stillServing();
  });

  test("a truncated frame: the client goes away mid-request", async () => {
    const c = await RawClient.connect(b.port);
    const frame = RawClient.frame(18, 3, { clientSoftwareName: "x", clientSoftwareVersion: "1" }, 1);
    c.sendRaw(frame.subarray(0, frame.length - 3));
    expect(await c.nextFrame(300)).toBeNull(); // nothing to answer yet
    c.close();
    await c.closed;
    await stillServing();
  });

  test("a frame whose body does not parse", async () => {
    const c = await RawClient.connect(b.port);
    const w = new Writer();
    w.i32(0);
    w.i16(3); // Metadata v9: flexible, topics array length varint says 1000 entries
    w.i16(9);
    w.i32(7);
    w.nullableString("x");
    w.uvarint(0);
    w.uvarint(1001);
    w.dv.setInt32(0, w.pos - 4);
    c.sendRaw(w.finish());
    await c.closed;
    await stillServing();
  });

  test("an unknown API key", async () => {
    const c = await RawClient.connect(b.port);
    const w = new Writer();
    w.i32(10);
    w.i16(999);
    w.i16(0);
    w.i32(1);
    w.i16(-1);
    c.sendRaw(w.finish());
    await c.closed;
    await stillServing();
  });

  test("a known API with a version out of range (not ApiVersions)", async () => {
    const c = await RawClient.connect(b.port);
    const w = new Writer();
    w.i32(0);
    w.i16(0); // Produce v2 (removed in Kafka 4)
    w.i16(2);
    w.i32(1);
    w.i16(-1);
    w.dv.setInt32(0, w.pos - 4);
    c.sendRaw(w.finish());
    await c.closed;
    await stillServing();
  });

  test("a frame above --max-request-size", async () => {
    const small = await startBroker({ maxRequestSize: 4096 });
    try {
      const c = await RawClient.connect(small.port);
      const big = new Uint8Array(5000);
      new DataView(big.buffer).setInt32(0, big.length - 4);
      c.sendRaw(big);
      await c.closed;
      const ok = await RawClient.connect(small.port);
      expect((await ok.request(18, 0, {}))?.errorCode).toBe(0);
      ok.close();
    } finally {
      await small.stop();
      small.cleanup();
    }
  });
});

describe("ApiVersions", () => {
  test("an unsupported version gets UNSUPPORTED_VERSION and the supported list, in v0", async () => {
    const c = await RawClient.connect(b.port);
    const frame = RawClient.frame(18, 3, { clientSoftwareName: "future", clientSoftwareVersion: "9" }, 42);
    new DataView(frame.buffer).setInt16(6, 99); // claim version 99
    c.sendRaw(frame);
    const resp = await c.nextFrame();
    expect(resp).not.toBeNull();
    const r = RawClient.decodeResponse(18, 0, resp!, 42) as { errorCode: number; apiKeys: { apiKey: number; minVersion: number; maxVersion: number }[] };
    expect(r.errorCode).toBe(ErrorCode.UNSUPPORTED_VERSION);
    expect(r.apiKeys.find((a) => a.apiKey === 0)).toEqual({ apiKey: 0, minVersion: 0, maxVersion: 11 });
    expect(r.apiKeys.find((a) => a.apiKey === 18)).toEqual({ apiKey: 18, minVersion: 0, maxVersion: 4 });
    c.close();
  });

  test("v3 with an invalid client software name gets INVALID_REQUEST", async () => {
    const r = await healthy.request(18, 3, { clientSoftwareName: "bad name!", clientSoftwareVersion: "1" });
    expect(r.errorCode).toBe(ErrorCode.INVALID_REQUEST);
  });
});

describe("Produce refusals: nothing is appended", () => {
  test("a batch with a wrong CRC gets CORRUPT_MESSAGE", async () => {
    const before = await highWatermark(healthy, "ok");
    const batch = batchOf(3);
    batch[batch.length - 1]! ^= 0xff;
    const r = await produceError(healthy, "ok", batch);
    expect(r.errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    expect(await highWatermark(healthy, "ok")).toBe(before);
  });

  test("a magic 1 message set gets INVALID_RECORD", async () => {
    const legacy = new Uint8Array(40);
    const dv = new DataView(legacy.buffer);
    dv.setInt32(8, 28); // message size
    dv.setInt8(16, 1); // magic 1
    const r = await produceError(healthy, "ok", legacy);
    expect(r.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(r.errorMessage).toContain("magic");
  });

  test("a magic 0 message set gets INVALID_RECORD too", async () => {
    const legacy = new Uint8Array(34);
    new DataView(legacy.buffer).setInt32(8, 22);
    const r = await produceError(healthy, "ok", legacy);
    expect(r.errorCode).toBe(ErrorCode.INVALID_RECORD);
  });

  test("a magic 1 message set in Produce v2 gets UNSUPPORTED_FOR_MESSAGE_FORMAT, naming the magic", async () => {
    const legacy = new Uint8Array(40);
    const dv = new DataView(legacy.buffer);
    dv.setInt32(8, 28);
    dv.setInt8(16, 1);
    const before = await highWatermark(healthy, "ok");
    const r = await produceError(healthy, "ok", legacy, 2);
    expect(r.errorCode).toBe(ErrorCode.UNSUPPORTED_FOR_MESSAGE_FORMAT);
    expect(await highWatermark(healthy, "ok")).toBe(before);
  });

  test("a magic-2 batch in Produce v0 (librdkafka < 2.8 probes for it) is appended and acknowledged", async () => {
    const before = await highWatermark(healthy, "ok");
    const r = await healthy.request(0, 0, produce("ok", 0, batchOf(2)));
    expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
    expect(r.responses[0].partitionResponses[0].baseOffset).toBe(before);
    expect(await highWatermark(healthy, "ok")).toBe(before + 2n);
  });

  test("two batches in one partition's records get INVALID_RECORD", async () => {
    const a = batchOf(1);
    const both = new Uint8Array(a.length * 2);
    both.set(a);
    both.set(a, a.length);
    expect((await produceError(healthy, "ok", both)).errorCode).toBe(ErrorCode.INVALID_RECORD);
  });

  test("a truncated batch gets CORRUPT_MESSAGE", async () => {
    expect((await produceError(healthy, "ok", batchOf(5).subarray(0, 70))).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
  });

  test("null records get INVALID_RECORD", async () => {
    expect((await produceError(healthy, "ok", null)).errorCode).toBe(ErrorCode.INVALID_RECORD);
  });

  test("zstd before Produce v7 gets UNSUPPORTED_COMPRESSION_TYPE", async () => {
    const z = buildBatch([{ value: enc.encode("x") }], { compression: 4 });
    expect((await produceError(healthy, "ok", z, 5)).errorCode).toBe(ErrorCode.UNSUPPORTED_COMPRESSION_TYPE);
  });

  test("invalid acks get INVALID_REQUIRED_ACKS", async () => {
    const r = await healthy.request(0, 9, produce("ok", 0, batchOf(1), 2));
    expect(r.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.INVALID_REQUIRED_ACKS);
  });

  test("a missing topic with auto-create off gets UNKNOWN_TOPIC_OR_PARTITION", async () => {
    expect((await produceError(healthy, "nope", batchOf(1))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const md = await healthy.request(3, 12, { topics: [{ name: "nope", topicId: "00000000000000000000000000000000" }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: false });
    expect(md.topics[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  test("a partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION", async () => {
    const r = await healthy.request(0, 9, produce("ok", 7, batchOf(1)));
    expect(r.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  test("a batch above max.message.bytes gets MESSAGE_TOO_LARGE", async () => {
    const cr = await healthy.request(19, 7, { topics: [{ name: "small-msgs", numPartitions: 1, replicationFactor: -1, assignments: [], configs: [{ name: "max.message.bytes", value: "1000" }] }], timeoutMs: 5000 });
    expect(cr.topics[0].errorCode).toBe(0);
    const big = buildBatch([{ value: new Uint8Array(5000).fill(1) }]);
    expect((await produceError(healthy, "small-msgs", big)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
  });

  test("acks=all on a topic with min.insync.replicas 2 gets NOT_ENOUGH_REPLICAS", async () => {
    await healthy.request(19, 7, { topics: [{ name: "isr2", numPartitions: 1, replicationFactor: -1, assignments: [], configs: [{ name: "min.insync.replicas", value: "2" }] }], timeoutMs: 5000 });
    expect((await produceError(healthy, "isr2", batchOf(1))).errorCode).toBe(ErrorCode.NOT_ENOUGH_REPLICAS);
    const r = await healthy.request(0, 9, produce("isr2", 0, batchOf(1), 1));
    expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
  });

  test("a control batch from a client gets INVALID_RECORD", async () => {
    const batch = batchOf(1);
    const dv = new DataView(batch.buffer, batch.byteOffset);
    dv.setInt16(21, dv.getInt16(21) | 0x20);
    const { crc32c } = await import("../../src/protocol/crc32c.ts");
    dv.setUint32(17, crc32c(batch, 21, batch.length));
    expect((await produceError(healthy, "ok", batch)).errorCode).toBe(ErrorCode.INVALID_RECORD);
  });

  test("after all that, a good batch still lands at the next offset and reads back", async () => {
    const before = await highWatermark(healthy, "ok");
    const r = await produceError(healthy, "ok", batchOf(4, "good"));
    expect(r.errorCode).toBe(0);
    expect(await highWatermark(healthy, "ok")).toBe(before + 4n);
    const f = await healthy.request(1, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic: "ok", partitions: [{ partition: 0, fetchOffset: before, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "" });
    const recs = f.responses[0].partitions[0].records as Uint8Array;
    const all = [...batches(recs)];
    expect(all.length).toBe(1);
    expect(all[0]!.baseOffset).toBe(Number(before));
  });
});

describe("Topic and fetch refusals", () => {
  test("an invalid topic name gets INVALID_TOPIC_EXCEPTION (create and metadata)", async () => {
    for (const name of ["bad name", "a/b", "..", "x".repeat(250), ""]) {
      const r = await healthy.request(19, 7, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
      expect(r.topics[0].errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
    }
    const md = await healthy.request(3, 9, { topics: [{ name: "bad name!" }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: false });
    expect(md.topics[0].errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
  });

  test("fetch past the high watermark gets OFFSET_OUT_OF_RANGE, promptly", async () => {
    const hw = await highWatermark(healthy, "ok");
    const t0 = Date.now();
    const f = await healthy.request(1, 12, { replicaId: -1, maxWaitMs: 5000, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic: "ok", partitions: [{ partition: 0, fetchOffset: hw + 10n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "" });
    expect(f.responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect(f.responses[0].partitions[0].highWatermark).toBe(hw);
    expect(Date.now() - t0).toBeLessThan(4000); // answered without waiting out maxWaitMs
  });

  test("bad replication factors and partition counts", async () => {
    const r = await healthy.request(19, 7, { topics: [{ name: "rf3", numPartitions: 1, replicationFactor: 3, assignments: [], configs: [] }, { name: "p0", numPartitions: 0, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
    expect(r.topics[0].errorCode).toBe(ErrorCode.INVALID_REPLICATION_FACTOR);
    expect(r.topics[1].errorCode).toBe(ErrorCode.INVALID_PARTITIONS);
  });

  test("unknown and invalid topic configs get INVALID_CONFIG", async () => {
    const r = await healthy.request(19, 7, {
      topics: [
        { name: "cfg1", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "no.such.config", value: "1" }] },
        { name: "cfg2", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "retention.ms", value: "soon" }] },
        { name: "cfg3", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "cleanup.policy", value: "shred" }] },
      ],
      timeoutMs: 5000,
    });
    for (const t of r.topics) expect(t.errorCode).toBe(ErrorCode.INVALID_CONFIG);
  });

  test("creating an existing topic gets TOPIC_ALREADY_EXISTS", async () => {
    const r = await healthy.request(19, 7, { topics: [{ name: "ok", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
    expect(r.topics[0].errorCode).toBe(ErrorCode.TOPIC_ALREADY_EXISTS);
  });

  test("shrinking partitions gets INVALID_PARTITIONS; unknown topic UNKNOWN_TOPIC_OR_PARTITION", async () => {
    const r = await healthy.request(37, 3, { topics: [{ name: "ok", count: 1, assignments: null }, { name: "ghost", count: 3, assignments: null }], timeoutMs: 5000, validateOnly: false });
    expect(r.results[0].errorCode).toBe(ErrorCode.INVALID_PARTITIONS);
    expect(r.results[1].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  test("deleting an unknown topic, by name and by id", async () => {
    const r = await healthy.request(20, 6, { topics: [{ name: "ghost", topicId: "00000000000000000000000000000000" }, { name: null, topicId: "0123456789abcdef0123456789abcdef" }], timeoutMs: 5000 });
    expect(r.responses[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(r.responses[1].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
  });
});
