// Issue 12 cases 1 and 2, and the topic rules of issue 13: a produced batch is validated record by record before it
// is stored (Kafka's LogValidator), so a crafted batch can no longer poison the timestamp index; and a bad batch that
// is already stored (written by an earlier version) costs the request that meets it an error, never a loop, a closed
// connection or the broker's memory.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { craftBatch, rawRecord } from "../helpers/craft.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { buildBatch, setBaseOffset } from "../../src/protocol/records.ts";
import { parseEntry, SEGMENT_HEADER, writeEntry, ENTRY_HEADER } from "../../src/wal/entry.ts";

const enc = new TextEncoder();
let b: TestBroker;
let c: RawClient;

function produceBody(topic: string, records: Uint8Array) {
  return { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records }] }] };
}

async function produce(topic: string, records: Uint8Array, version = 9) {
  const r = await c.request(0, version, produceBody(topic, records));
  return r.responses[0].partitionResponses[0] as { errorCode: number; errorMessage: string | null; baseOffset: bigint; recordErrors: { batchIndex: number; batchIndexErrorMessage: string | null }[] };
}

async function createTopic(name: string, configs: [string, string][] = []) {
  const r = await c.request(19, 7, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: configs.map(([n, v]) => ({ name: n, value: v })) }], timeoutMs: 5000 });
  return r.topics[0].errorCode as number;
}

async function listOffset(topic: string, timestamp: bigint) {
  const r = await c.request(2, 8, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: 0, timestamp, currentLeaderEpoch: -1 }] }] }, 5000);
  return r?.topics[0].partitions[0] as { errorCode: number; offset: bigint } | undefined;
}

function rssMiB(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

beforeAll(async () => {
  b = await startBroker({ autoCreateTopics: false });
  c = await RawClient.connect(b.port);
});

afterAll(async () => {
  c.close();
  await b.stop();
  b.cleanup();
});

describe("crafted batches are refused before they are stored (issue 12 cases 1 and 2)", () => {
  test("a CRC-valid batch claiming 2^31-1 records with one record of length -1: INVALID_RECORD, nothing stored", async () => {
    expect(await createTopic("case1")).toBe(0);
    const bomb = craftBatch([rawRecord({ offsetDelta: 0, length: -1 })], { count: 2 ** 31 - 1 });
    const r = await produce("case1", bomb);
    expect(r.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect((await listOffset("case1", -1n))!.offset).toBe(0n);
    // The timestamp lookup that looped on it answers at once.
    const lo = await listOffset("case1", 0n);
    expect(lo).toEqual(expect.objectContaining({ errorCode: 0, offset: -1n }));
  });

  test("a CRC-valid batch whose key length runs past its end: INVALID_RECORD; ListOffsets by timestamp keeps answering", async () => {
    expect(await createTopic("case2")).toBe(0);
    expect((await produce("case2", buildBatch([{ key: enc.encode("a"), value: enc.encode("1") }]))).errorCode).toBe(0);
    const bad = craftBatch([rawRecord({ offsetDelta: 0, key: enc.encode("k"), keyLength: 100 })]);
    expect((await produce("case2", bad)).errorCode).toBe(ErrorCode.INVALID_RECORD);
    const lo = await listOffset("case2", 0n);
    expect(lo).toEqual(expect.objectContaining({ errorCode: 0, offset: 0n }));
    expect(c.isClosed).toBe(false);
  });
});

describe("topic rules (issue 13)", () => {
  test("a compacted topic refuses records without a key: INVALID_RECORD with Kafka's message and the record errors (v8+)", async () => {
    expect(await createTopic("compacted", [["cleanup.policy", "compact"]])).toBe(0);
    const batch = buildBatch([{ key: enc.encode("k"), value: enc.encode("1") }, { key: null, value: enc.encode("2") }]);
    const r = await produce("compacted", batch);
    expect(r.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect(r.recordErrors).toEqual([{ batchIndex: 1, batchIndexErrorMessage: "Compacted topic cannot accept message without key in topic partition compacted-0." }]);
    expect(r.errorMessage).toContain("One or more records have been rejected");
    // v7 has no record errors: the code alone.
    const v7 = await produce("compacted", batch, 7);
    expect(v7.errorCode).toBe(ErrorCode.INVALID_RECORD);
    expect((await produce("compacted", buildBatch([{ key: enc.encode("k"), value: enc.encode("1") }]))).errorCode).toBe(0);
  });

  test("KafkaJS sending without a key to a compacted topic gets Kafka's INVALID_RECORD", async () => {
    const kafka = new Kafka({ brokers: [b.bootstrap], clientId: "validation", logLevel: logLevel.NOTHING, retry: { retries: 0 } });
    const producer = kafka.producer();
    await producer.connect();
    try {
      await expect(producer.send({ topic: "compacted", messages: [{ value: "no key" }] })).rejects.toThrow(/failed the validation|INVALID_RECORD|rejected/i);
      await producer.send({ topic: "compacted", messages: [{ key: "k", value: "keyed" }] });
    } finally {
      await producer.disconnect();
    }
  });

  test("message.timestamp.before.max.ms / after.max.ms: INVALID_TIMESTAMP with the record's index", async () => {
    expect(await createTopic("recent", [["message.timestamp.before.max.ms", "60000"], ["message.timestamp.after.max.ms", "60000"]])).toBe(0);
    const now = Date.now();
    const r = await produce("recent", buildBatch([{ value: enc.encode("now"), timestamp: now }, { value: enc.encode("old"), timestamp: now - 3_600_000 }]));
    expect(r.errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect(r.recordErrors.map((e) => e.batchIndex)).toEqual([1]);
    expect(r.recordErrors[0]!.batchIndexErrorMessage).toContain("is out of range");
    const future = await produce("recent", buildBatch([{ value: enc.encode("later"), timestamp: now + 3_600_000 }]));
    expect(future.errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await produce("recent", buildBatch([{ value: enc.encode("ok"), timestamp: now }]))).errorCode).toBe(0);
  });

  test("by default a record may be at most an hour ahead (Kafka 4's message.timestamp.after.max.ms), any age behind", async () => {
    expect(await createTopic("defaults")).toBe(0);
    expect((await produce("defaults", buildBatch([{ value: enc.encode("x"), timestamp: Date.now() + 2 * 3_600_000 }]))).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await produce("defaults", buildBatch([{ value: enc.encode("x"), timestamp: 1000 }]))).errorCode).toBe(0);
  });

  test("LogAppendTime topics take any producer timestamp", async () => {
    expect(await createTopic("lat", [["message.timestamp.type", "LogAppendTime"]])).toBe(0);
    expect((await produce("lat", buildBatch([{ value: enc.encode("x"), timestamp: Date.now() + 99 * 3_600_000 }]))).errorCode).toBe(0);
  });

  test("the deprecated message.timestamp.difference.max.ms is refused as Kafka 4 refuses it (INVALID_CONFIG)", async () => {
    expect(await createTopic("diff", [["message.timestamp.difference.max.ms", "1000"]])).toBe(ErrorCode.INVALID_CONFIG);
  });

  test("max.message.bytes per topic: MESSAGE_TOO_LARGE", async () => {
    expect(await createTopic("small", [["max.message.bytes", "2000"]])).toBe(0);
    expect((await produce("small", buildBatch([{ value: new Uint8Array(3000) }]))).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    expect((await produce("small", buildBatch([{ value: new Uint8Array(1000) }]))).errorCode).toBe(0);
  });

  test("a wrong max timestamp in a produced header is corrected before it is stored", async () => {
    expect(await createTopic("maxts")).toBe(0);
    const ts = Date.now() - 5000;
    const batch = craftBatch([rawRecord({ offsetDelta: 0, tsDelta: 0 }), rawRecord({ offsetDelta: 1, tsDelta: 40 })], { baseTimestamp: ts, maxTimestamp: ts - 1_000_000 });
    expect((await produce("maxts", batch)).errorCode).toBe(0);
    const r = await c.request(2, 8, { replicaId: -1, isolationLevel: 0, topics: [{ name: "maxts", partitions: [{ partitionIndex: 0, timestamp: -3n, currentLeaderEpoch: -1 }] }] });
    expect(r.topics[0].partitions[0]).toEqual(expect.objectContaining({ offset: 1n, timestamp: BigInt(ts + 40) }));
  });
});

describe("a bad batch already on disk (written before validation existed)", () => {
  test("ListOffsets by timestamp and max timestamp answer CORRUPT_MESSAGE for that partition; the connection and the broker's memory are fine", async () => {
    const stored = await startBroker({ autoCreateTopics: false });
    {
      const sc = await RawClient.connect(stored.port);
      await sc.request(19, 7, { topics: [{ name: "legacy", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
      const ok = await sc.request(0, 9, produceBody("legacy", buildBatch([{ key: enc.encode("a"), value: enc.encode("1"), timestamp: 1000 }])));
      expect(ok.responses[0].partitionResponses[0].errorCode).toBe(0);
      const md = await sc.request(3, 12, { topics: [{ name: "legacy", topicId: "00000000000000000000000000000000" }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
      const topicId = md.topics[0].topicId as string;
      sc.close();
      await stored.stop();
      // Append the two batches of cases 1 and 2 to the WAL as an earlier version would have stored them.
      appendToWal(stored.dataDir, topicId, [
        craftBatch([rawRecord({ offsetDelta: 0, length: -1 })], { count: 2 ** 31 - 1, baseTimestamp: 2000, maxTimestamp: 2000 }),
        craftBatch([rawRecord({ offsetDelta: 0, key: enc.encode("k"), keyLength: 100 })], { baseTimestamp: 3000, maxTimestamp: 3000 }),
      ], 1);
      const again = await stored.restart();
      try {
        const rc = await RawClient.connect(again.port);
        const before = rssMiB();
        const ask = (timestamp: bigint) => rc.request(2, 8, { replicaId: -1, isolationLevel: 0, topics: [{ name: "legacy", partitions: [{ partitionIndex: 0, timestamp, currentLeaderEpoch: -1 }] }] }, 5000);
        for (const ts of [1500n, 2500n, -3n]) {
          const r = await ask(ts);
          expect(r).not.toBeNull(); // answered, connection open
          expect(r.topics[0].partitions[0].errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
        }
        // What lies before the bad batches is still found.
        expect((await ask(500n)).topics[0].partitions[0]).toEqual(expect.objectContaining({ errorCode: 0, offset: 0n }));
        expect(rssMiB() - before).toBeLessThan(200); // budget: a lookup may not grow the broker by more than 200 MiB
        rc.close();
      } finally {
        await again.stop();
        again.cleanup();
      }
    }
  });
});

/** Appends batches (offsets from `firstOffset`) to the end of the newest WAL segment, entry format and all. */
function appendToWal(dataDir: string, topicId: string, batches: Uint8Array[], firstOffset: number): void {
  const wal = join(dataDir, "wal");
  const seg = readdirSync(wal).filter((f) => f.endsWith(".wal")).sort().reverse().find((f) => {
    const buf = readFileSync(join(wal, f));
    return parseEntry(buf, new DataView(buf.buffer, buf.byteOffset, buf.byteLength), SEGMENT_HEADER) !== "end";
  })!;
  const path = join(wal, seg);
  const buf = readFileSync(path);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = SEGMENT_HEADER;
  let seq = 0;
  for (;;) {
    const e = parseEntry(buf, dv, pos);
    if (e === "end" || e === "corrupt") break;
    seq = e.seq + 1;
    pos = e.end;
  }
  const topic = Uint8Array.from(Buffer.from(topicId, "hex"));
  let offset = firstOffset;
  const fd = openSync(path, "r+");
  try {
    for (const batch of batches) {
      setBaseOffset(batch, offset);
      const out = new Uint8Array(ENTRY_HEADER + batch.length);
      writeEntry(out, new DataView(out.buffer), 0, seq++, topic, 0, offset, batch, 0);
      writeSync(fd, out, 0, out.length, pos);
      pos += out.length;
      offset += new DataView(batch.buffer, batch.byteOffset).getInt32(23) + 1;
    }
  } finally {
    closeSync(fd);
  }
}
