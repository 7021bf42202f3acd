// Protocol behaviour a Kafka client relies on, checked at the byte level with our raw client: idempotent
// produce (duplicates, gaps, fencing, state across restarts), pipelining order, fetch long polls and byte limits,
// ListOffsets special timestamps, LogAppendTime topics, metadata by topic id, FindCoordinator, DescribeCluster.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, waitFor, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { batches, buildBatch, decodeRecords, readBatchHeader } from "../../src/protocol/records.ts";

const enc = new TextEncoder();
let b: TestBroker;
let c: RawClient;

const records = (n: number, tag = "v") => Array.from({ length: n }, (_, i) => ({ key: enc.encode(`k${i}`), value: enc.encode(`${tag}${i}`) }));

async function createTopic(name: string, partitions = 1, configs: { name: string; value: string }[] = []) {
  const r = await c.request(19, 7, { topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
  return r.topics[0];
}

async function produce(topic: string, partition: number, batch: Uint8Array, version = 9, client = c) {
  const r = await client.request(0, version, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }] });
  return r.responses[0].partitionResponses[0] as { errorCode: number; baseOffset: bigint; logAppendTimeMs: bigint; errorMessage: string | null };
}

function fetchReq(topic: string, offset: bigint, opts: { maxWaitMs?: number; minBytes?: number; maxBytes?: number; partitionMaxBytes?: number; partition?: number } = {}) {
  return {
    replicaId: -1, maxWaitMs: opts.maxWaitMs ?? 0, minBytes: opts.minBytes ?? 1, maxBytes: opts.maxBytes ?? 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: opts.partition ?? 0, fetchOffset: offset, partitionMaxBytes: opts.partitionMaxBytes ?? 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }],
    forgottenTopicsData: [], rackId: "",
  };
}

async function listOffset(topic: string, timestamp: bigint, version = 8) {
  const r = await c.request(2, version, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp, currentLeaderEpoch: -1 }] }] });
  return r.topics[0].partitions[0] as { errorCode: number; offset: bigint; timestamp: bigint };
}

beforeAll(async () => {
  b = await startBroker();
  c = await RawClient.connect(b.port);
});

afterAll(async () => {
  c.close();
  await b.stop();
  b.cleanup();
});

describe("idempotent produce", () => {
  test("a retried batch gets its original offset and is stored once; a gap and an old epoch are refused", async () => {
    await createTopic("idem");
    const init = await c.request(22, 4, { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 });
    expect(init.errorCode).toBe(0);
    const pid = Number(init.producerId);
    const first = buildBatch(records(3), { producerId: pid, producerEpoch: 0, baseSequence: 0 });
    const r1 = await produce("idem", 0, first.slice());
    expect([r1.errorCode, r1.baseOffset]).toEqual([0, 0n]);
    const r2 = await produce("idem", 0, buildBatch(records(2), { producerId: pid, producerEpoch: 0, baseSequence: 3 }));
    expect([r2.errorCode, r2.baseOffset]).toEqual([0, 3n]);
    const retry = await produce("idem", 0, first.slice());
    expect([retry.errorCode, retry.baseOffset]).toEqual([0, 0n]);
    const gap = await produce("idem", 0, buildBatch(records(1), { producerId: pid, producerEpoch: 0, baseSequence: 9 }));
    expect(gap.errorCode).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    const bumped = await produce("idem", 0, buildBatch(records(1), { producerId: pid, producerEpoch: 1, baseSequence: 0 }));
    expect(bumped.errorCode).toBe(0);
    const fenced = await produce("idem", 0, buildBatch(records(1), { producerId: pid, producerEpoch: 0, baseSequence: 5 }));
    expect(fenced.errorCode).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect((await listOffset("idem", -1n)).offset).toBe(6n); // 3 + 2 + 1: the retry and the refused batches added nothing
  });

  test("pipelined duplicates of a batch still in flight answer with the same offset", async () => {
    await createTopic("idem2");
    const init = await c.request(22, 4, { transactionalId: null, transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 });
    const pid = Number(init.producerId);
    const batch = buildBatch(records(5), { producerId: pid, producerEpoch: 0, baseSequence: 0 });
    const [a, bb] = await Promise.all([produce("idem2", 0, batch.slice()), produce("idem2", 0, batch.slice())]);
    expect(a.baseOffset).toBe(0n);
    expect(bb.baseOffset).toBe(0n);
    expect((await listOffset("idem2", -1n)).offset).toBe(5n);
  });

  test("producer ids are unique and producer state survives a restart", async () => {
    await createTopic("idem3");
    const ids = new Set<bigint>();
    for (let i = 0; i < 5; i++) ids.add((await c.request(22, 4, { transactionalId: null, transactionTimeoutMs: 1, producerId: -1n, producerEpoch: -1 })).producerId);
    expect(ids.size).toBe(5);
    const pid = Number([...ids][0]);
    const batch = buildBatch(records(4), { producerId: pid, producerEpoch: 0, baseSequence: 0 });
    expect((await produce("idem3", 0, batch.slice())).baseOffset).toBe(0n);
    c.close();
    b = await b.restart();
    c = await RawClient.connect(b.port);
    const retry = await produce("idem3", 0, batch.slice());
    expect([retry.errorCode, retry.baseOffset]).toEqual([0, 0n]);
    const next = await produce("idem3", 0, buildBatch(records(1), { producerId: pid, producerEpoch: 0, baseSequence: 4 }));
    expect([next.errorCode, next.baseOffset]).toEqual([0, 4n]);
    const newId = (await c.request(22, 4, { transactionalId: null, transactionTimeoutMs: 1, producerId: -1n, producerEpoch: -1 })).producerId;
    expect(ids.has(newId)).toBe(false);
  });

  test("a transactional id is refused until transactions exist", async () => {
    const r = await c.request(22, 4, { transactionalId: "tx-1", transactionTimeoutMs: 60000, producerId: -1n, producerEpoch: -1 });
    expect(r.errorCode).not.toBe(0);
  });
});

describe("pipelining", () => {
  test("many requests written at once are answered in order, each with its own correlation id", async () => {
    await createTopic("pipe");
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      const body = i % 3 === 0
        ? { replicaId: -1, isolationLevel: 0, topics: [{ name: "pipe", partitions: [{ partitionIndex: 0, timestamp: -1n }] }] }
        : { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: "pipe", partitionData: [{ index: 0, records: buildBatch(records(1, `p${i}-`)) }] }] };
      frames.push(RawClient.frame(i % 3 === 0 ? 2 : 0, i % 3 === 0 ? 7 : 9, body, 1000 + i));
    }
    const raw = await RawClient.connect(b.port);
    const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let o = 0;
    for (const f of frames) {
      all.set(f, o);
      o += f.length;
    }
    const answers = Array.from({ length: 200 }, () => raw.nextFrame());
    raw.sendRaw(all);
    let lastOffset = -1n;
    for (let i = 0; i < 200; i++) {
      const f = (await answers[i])!;
      expect(new DataView(f.buffer, f.byteOffset).getInt32(0)).toBe(1000 + i);
      if (i % 3 !== 0) {
        const r = RawClient.decodeResponse(0, 9, f) as { responses: { partitionResponses: { baseOffset: bigint }[] }[] };
        const off = r.responses[0]!.partitionResponses[0]!.baseOffset;
        expect(off).toBe(lastOffset + 1n); // appended in arrival order
        lastOffset = off;
      }
    }
    raw.close();
  });

  test("acks=0 produces get no response but are stored", async () => {
    await createTopic("fire");
    const raw = await RawClient.connect(b.port);
    for (let i = 0; i < 3; i++) raw.sendRaw(RawClient.frame(0, 9, { transactionalId: null, acks: 0, timeoutMs: 1000, topicData: [{ name: "fire", partitionData: [{ index: 0, records: buildBatch(records(1)) }] }] }, i));
    const next = raw.nextFrame(3000);
    raw.sendRaw(RawClient.frame(18, 0, {}, 99));
    const f = (await next)!;
    expect(new DataView(f.buffer, f.byteOffset).getInt32(0)).toBe(99); // the first answer is the ApiVersions one
    raw.close();
    await waitFor(async () => (await listOffset("fire", -1n)).offset === 3n, "acks=0 records to become visible");
  });
});

describe("fetch", () => {
  test("a long poll returns as soon as data arrives, and after maxWaitMs when none does", async () => {
    await createTopic("poll");
    const waiter = await RawClient.connect(b.port);
    const t0 = Date.now();
    const empty = await waiter.request(1, 12, fetchReq("poll", 0n, { maxWaitMs: 300 }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(empty.responses[0].partitions[0].records).toEqual(new Uint8Array(0)); // empty, never null (librdkafka)
    const pending = waiter.request(1, 12, fetchReq("poll", 0n, { maxWaitMs: 20_000 }));
    await Bun.sleep(100);
    await produce("poll", 0, buildBatch(records(2)));
    const got = await pending;
    const recs = decodeRecords(got.responses[0].partitions[0].records as Uint8Array);
    expect(recs.map((r) => r.offset)).toEqual([0, 1]);
    waiter.close();
  }, 30_000);

  test("minBytes holds the answer until enough bytes are there", async () => {
    await createTopic("minbytes");
    const waiter = await RawClient.connect(b.port);
    const batch = buildBatch(records(1));
    const pending = waiter.request(1, 12, fetchReq("minbytes", 0n, { maxWaitMs: 20_000, minBytes: batch.length * 3 }));
    for (let i = 0; i < 3; i++) {
      await produce("minbytes", 0, buildBatch(records(1)));
      await Bun.sleep(30);
    }
    const got = await pending;
    expect([...batches(got.responses[0].partitions[0].records as Uint8Array)].length).toBe(3);
    waiter.close();
  }, 30_000);

  test("byte limits: whole batches only, but always at least one (KIP-74), starting at the batch holding the offset", async () => {
    await createTopic("limits", 2);
    for (let i = 0; i < 5; i++) await produce("limits", 0, buildBatch(records(10, `b${i}-`)));
    const one = buildBatch(records(10, "b0-")).length;
    const r = await c.request(1, 12, fetchReq("limits", 0n, { partitionMaxBytes: one * 2 + 10 }));
    expect([...batches(r.responses[0].partitions[0].records as Uint8Array)].length).toBe(2);
    const tiny = await c.request(1, 12, fetchReq("limits", 0n, { partitionMaxBytes: 10, maxBytes: 10 }));
    expect([...batches(tiny.responses[0].partitions[0].records as Uint8Array)].length).toBe(1);
    const mid = await c.request(1, 12, fetchReq("limits", 25n));
    const first = [...batches(mid.responses[0].partitions[0].records as Uint8Array)][0]!;
    expect(first.baseOffset).toBe(20);
    // The response limit applies across partitions: the second partition's batch does not fit after the first's.
    await produce("limits", 1, buildBatch(records(10)));
    const both = await c.request(1, 12, {
      ...fetchReq("limits", 0n, { maxBytes: one + 5 }),
      topics: [{ topic: "limits", partitions: [0, 1].map((partition) => ({ partition, fetchOffset: 0n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n })) }],
    });
    expect([...batches(both.responses[0].partitions[0].records as Uint8Array)].length).toBe(1);
    expect(both.responses[0].partitions[1].records).toEqual(new Uint8Array(0));
    expect(both.responses[0].partitions[1].highWatermark).toBe(10n);
  });

  test("fetch by topic id (v13+) and an unknown topic id", async () => {
    const t = await createTopic("byid");
    await produce("byid", 0, buildBatch(records(1)));
    const req = fetchReq("", 0n);
    const r = await c.request(1, 13, { ...req, topics: [{ topicId: t.topicId, partitions: req.topics[0]!.partitions }] });
    expect(r.responses[0].topicId).toBe(t.topicId);
    expect(decodeRecords(r.responses[0].partitions[0].records as Uint8Array).length).toBe(1);
    const unknown = await c.request(1, 13, { ...req, topics: [{ topicId: "0123456789abcdef0123456789abcdef", partitions: req.topics[0]!.partitions }] });
    expect(unknown.responses[0].partitions[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_ID);
  });

  test("an unknown fetch session id is FETCH_SESSION_ID_NOT_FOUND; a new session request gets a full answer with id 0", async () => {
    const r = await c.request(1, 12, { ...fetchReq("byid", 0n), sessionId: 55, sessionEpoch: 3 });
    expect(r.errorCode).toBe(ErrorCode.FETCH_SESSION_ID_NOT_FOUND);
    const s = await c.request(1, 12, { ...fetchReq("byid", 0n), sessionId: 0, sessionEpoch: 0 });
    expect([s.errorCode, s.sessionId]).toEqual([0, 0]);
  });
});

describe("ListOffsets and timestamps", () => {
  test("earliest, latest, by timestamp (inside a batch), max timestamp", async () => {
    await createTopic("times");
    const base = 1_700_000_000_000;
    await produce("times", 0, buildBatch([0, 1, 2].map((i) => ({ value: enc.encode(`a${i}`), timestamp: base + i * 10 }))));
    await produce("times", 0, buildBatch([0, 1].map((i) => ({ value: enc.encode(`b${i}`), timestamp: base + 100 + i * 10 })), { compression: 3 }));
    expect((await listOffset("times", -2n)).offset).toBe(0n);
    expect((await listOffset("times", -1n)).offset).toBe(5n);
    expect(await listOffset("times", BigInt(base + 15))).toMatchObject({ offset: 2n, timestamp: BigInt(base + 20) });
    expect(await listOffset("times", BigInt(base + 105))).toMatchObject({ offset: 4n, timestamp: BigInt(base + 110) });
    expect(await listOffset("times", BigInt(base + 999))).toMatchObject({ offset: -1n, timestamp: -1n });
    expect(await listOffset("times", -3n)).toMatchObject({ offset: 4n, timestamp: BigInt(base + 110) });
    expect((await listOffset("times", -4n)).offset).toBe(0n);
  });

  test("a LogAppendTime topic stamps batches with the broker's time", async () => {
    await createTopic("lat", 1, [{ name: "message.timestamp.type", value: "LogAppendTime" }]);
    const before = Date.now();
    const r = await produce("lat", 0, buildBatch(records(2), { timestamp: 1000 }));
    expect(Number(r.logAppendTimeMs)).toBeGreaterThanOrEqual(before);
    const f = await c.request(1, 12, fetchReq("lat", 0n));
    const data = f.responses[0].partitions[0].records as Uint8Array;
    expect(readBatchHeader(data).attributes & 0x08).toBe(0x08);
    expect(decodeRecords(data).map((x) => x.timestamp)).toEqual([Number(r.logAppendTimeMs), Number(r.logAppendTimeMs)]);
  });
});

describe("metadata and coordinators", () => {
  test("metadata lists this broker, leader epoch 0, topic ids, lookups by id; auto-creation uses --default-partitions", async () => {
    const t = await createTopic("meta-t", 3);
    const md = await c.request(3, 12, { topics: [{ name: null, topicId: t.topicId }, { name: "auto-made", topicId: "00000000000000000000000000000000" }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: true });
    expect(md.brokers).toEqual([{ nodeId: 0, host: "127.0.0.1", port: b.port, rack: null }]);
    expect(md.controllerId).toBe(0);
    expect(md.topics[0].name).toBe("meta-t");
    expect(md.topics[0].partitions.map((p: { leaderId: number; leaderEpoch: number; isrNodes: number[] }) => [p.leaderId, p.leaderEpoch, p.isrNodes])).toEqual([[0, 0, [0]], [0, 0, [0]], [0, 0, [0]]]);
    expect(md.topics[1]).toMatchObject({ errorCode: 0, name: "auto-made" });
    expect(md.topics[1].partitions.length).toBe(1);
    const v0 = await c.request(3, 0, { topics: [] });
    expect(v0.topics.length).toBeGreaterThanOrEqual(2);
    const noAuto = await c.request(3, 12, { topics: [{ name: "never-made", topicId: "00000000000000000000000000000000" }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    expect(noAuto.topics[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
  });

  test("FindCoordinator answers with this broker (single and batched keys); DescribeCluster describes it", async () => {
    const v3 = await c.request(10, 3, { key: "group-1", keyType: 0 });
    expect([v3.errorCode, v3.nodeId, v3.host, v3.port]).toEqual([0, 0, "127.0.0.1", b.port]);
    const v4 = await c.request(10, 4, { keyType: 0, coordinatorKeys: ["a", "b"] });
    expect(v4.coordinators.map((x: { key: string; port: number }) => [x.key, x.port])).toEqual([["a", b.port], ["b", b.port]]);
    const bad = await c.request(10, 4, { keyType: 9, coordinatorKeys: ["a"] });
    expect(bad.coordinators[0].errorCode).toBe(ErrorCode.INVALID_REQUEST);
    const dc = await c.request(60, 1, { includeClusterAuthorizedOperations: false, endpointType: 1 });
    expect(dc.brokers).toEqual([{ brokerId: 0, host: "127.0.0.1", port: b.port, rack: null }]);
    expect(dc.clusterId).toBe(b.broker.context.clusterId);
  });

  test("CreateTopics v5+ reports configs; validateOnly creates nothing; DeleteTopics by id", async () => {
    const r = await c.request(19, 7, { topics: [{ name: "cfgd", numPartitions: 2, replicationFactor: -1, assignments: [], configs: [{ name: "retention.ms", value: "1000" }] }], timeoutMs: 5000, validateOnly: true });
    expect(r.topics[0].errorCode).toBe(0);
    expect(r.topics[0].configs.find((x: { name: string }) => x.name === "retention.ms")).toMatchObject({ value: "1000", configSource: 1 });
    expect(r.topics[0].configs.find((x: { name: string }) => x.name === "cleanup.policy")).toMatchObject({ value: "delete", configSource: 5 });
    const md = await c.request(3, 12, { topics: [{ name: "cfgd", topicId: "00000000000000000000000000000000" }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    expect(md.topics[0].errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    const t = await createTopic("doomed");
    const d = await c.request(20, 6, { topics: [{ name: null, topicId: t.topicId }], timeoutMs: 5000 });
    expect(d.responses[0]).toMatchObject({ errorCode: 0, name: "doomed" });
    expect((await produce("doomed", 0, buildBatch(records(1)))).errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    // A topic re-created under the same name starts empty.
    await createTopic("doomed");
    expect((await listOffset("doomed", -1n)).offset).toBe(0n);
  });

  test("manual replica assignments must name this broker", async () => {
    const ok = await c.request(19, 7, { topics: [{ name: "assigned", numPartitions: -1, replicationFactor: -1, assignments: [{ partitionIndex: 0, brokerIds: [0] }, { partitionIndex: 1, brokerIds: [0] }], configs: [] }], timeoutMs: 5000 });
    expect([ok.topics[0].errorCode, ok.topics[0].numPartitions]).toEqual([0, 2]);
    const bad = await c.request(19, 7, { topics: [{ name: "misassigned", numPartitions: -1, replicationFactor: -1, assignments: [{ partitionIndex: 0, brokerIds: [5] }], configs: [] }], timeoutMs: 5000 });
    expect(bad.topics[0].errorCode).toBe(ErrorCode.INVALID_REPLICA_ASSIGNMENT);
  });
});
