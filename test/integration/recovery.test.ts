// Durability: every acknowledged record survives a graceful restart, a kill -9 at any moment, and a torn WAL
// tail; SIGTERM answers in-flight requests before exiting 0; --wal-max-disk-size moves the log start offset.
import { afterEach, describe, expect, test } from "bun:test";
import { openSync, readdirSync, rmSync, statSync, writeSync, closeSync } from "node:fs";
import { join } from "node:path";
import { spawnBroker, startBroker, tempDir, type SpawnedBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { readTopic } from "../helpers/read-topic.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function createTopic(c: RawClient, name: string, partitions: number) {
  const r = await c.request(19, 7, { topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
}

function produceBody(topic: string, partition: number, values: string[]) {
  return { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records: buildBatch(values.map((v) => ({ key: enc.encode(v), value: enc.encode(`value-of-${v}`) }))) }] }] };
}

describe("restarts", () => {
  test("a graceful restart keeps every record, offset and topic; appends continue after them", async () => {
    let b = await startBroker();
    cleanup.push(() => b.cleanup());
    let c = await RawClient.connect(b.port);
    await createTopic(c, "keep", 3);
    for (let i = 0; i < 30; i++) {
      const r = await c.request(0, 9, produceBody("keep", i % 3, [`r${i}a`, `r${i}b`]));
      expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
    }
    c.close();
    b = await b.restart();
    cleanup.push(() => b.stop());
    c = await RawClient.connect(b.port);
    const r = await c.request(0, 9, produceBody("keep", 0, ["after"]));
    expect(r.responses[0].partitionResponses[0].baseOffset).toBe(20n);
    c.close();
    const parts = await readTopic(b.port, "keep");
    expect([...parts.values()].map((p) => p.length)).toEqual([21, 20, 20]);
    expect(dec.decode(parts.get(1)![0]!.key!)).toBe("r1a");
    expect(dec.decode(parts.get(0)![20]!.value!)).toBe("value-of-after");
  });

  test("kill -9 while producing: every acknowledged record is there after each restart, at its offset", async () => {
    const dataDir = tempDir();
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let broker: SpawnedBroker = await spawnBroker({ dataDir });
    const port = broker.port;
    cleanup.push(() => broker.kill("SIGKILL"));
    const setup = await RawClient.connect(port);
    await createTopic(setup, "crash", 4);
    setup.close();

    const acked = new Map<string, { partition: number; offset: bigint }>();
    let n = 0;
    for (let round = 0; round < 4; round++) {
      const c = await RawClient.connect(port);
      let stop = false;
      // Four pipelined producers; each acknowledged batch is remembered with its offset.
      const loops = [0, 1, 2, 3].map(async (partition) => {
        while (!stop) {
          const keys = [`k${n++}`, `k${n++}`, `k${n++}`];
          const r = await c.request(0, 9, produceBody("crash", partition, keys), 2000).catch(() => null);
          if (!r) return;
          const pr = r.responses[0].partitionResponses[0];
          if (pr.errorCode === 0) keys.forEach((k, i) => acked.set(k, { partition, offset: pr.baseOffset + BigInt(i) }));
        }
      });
      await Bun.sleep(300 + Math.random() * 400);
      broker.kill("SIGKILL");
      await broker.exited;
      stop = true;
      await Promise.all(loops);
      c.close();
      broker = await spawnBroker({ dataDir, port });
    }
    expect(acked.size).toBeGreaterThan(100);
    const parts = await readTopic(port, "crash");
    const found = new Map<string, { partition: number; offset: bigint }>();
    for (const [partition, recs] of parts) {
      recs.forEach((r, i) => {
        expect(r.offset).toBe(i); // no holes
        const key = dec.decode(r.key!);
        expect(found.has(key)).toBe(false);
        found.set(key, { partition, offset: BigInt(r.offset) });
        expect(dec.decode(r.value!)).toBe(`value-of-${key}`);
      });
    }
    for (const [key, where] of acked) expect(found.get(key)).toEqual(where);
    broker.kill("SIGTERM");
    expect(await broker.exited).toBe(0);
  }, 120_000);

  test("a torn WAL tail is cut off at start and the broker serves on", async () => {
    const dataDir = tempDir();
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    let b = await startBroker({ dataDir });
    const c = await RawClient.connect(b.port);
    await createTopic(c, "torn", 1);
    for (let i = 0; i < 5; i++) await c.request(0, 9, produceBody("torn", 0, [`t${i}`]));
    c.close();
    await b.stop();
    // Garble the bytes right after the last entry, as a crash in the middle of a write would leave them.
    const wal = join(dataDir, "wal");
    const seg = readdirSync(wal).filter((f) => f.endsWith(".wal")).sort()[0]!;
    const parts = await (async () => {
      const b2 = await startBroker({ dataDir });
      const p = await readTopic(b2.port, "torn");
      await b2.stop();
      return p;
    })();
    expect(parts.get(0)!.length).toBe(5);
    const fd = openSync(join(wal, seg), "r+");
    // Find the end of the data: the first run of zeros after the header holds the tail.
    const img = await Bun.file(join(wal, seg)).bytes();
    let end = img.length;
    while (end > 16 && img[end - 1] === 0) end--;
    writeSync(fd, new Uint8Array([0, 0, 0, 200, 9, 9, 9, 9, 1, 2, 3]), 0, 11, end + 3);
    closeSync(fd);
    b = await startBroker({ dataDir });
    cleanup.push(async () => {
      await b.stop();
    });
    const after = await readTopic(b.port, "torn");
    expect(after.get(0)!.map((r) => dec.decode(r.key!))).toEqual(["t0", "t1", "t2", "t3", "t4"]);
    const c2 = await RawClient.connect(b.port);
    const r = await c2.request(0, 9, produceBody("torn", 0, ["t5"]));
    expect(r.responses[0].partitionResponses[0].baseOffset).toBe(5n);
    c2.close();
  });

  test("SIGTERM: in-flight requests are answered, queued writes are fsync'd, the process exits 0", async () => {
    const broker = await spawnBroker();
    cleanup.push(() => rmSync(broker.dataDir, { recursive: true, force: true }));
    const c = await RawClient.connect(broker.port);
    await createTopic(c, "term", 1);
    const fetch = c.request(1, 12, {
      replicaId: -1, maxWaitMs: 30_000, minBytes: 1 << 20, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic: "term", partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "",
    }, 20_000);
    await Bun.sleep(100);
    const t0 = Date.now();
    broker.kill("SIGTERM");
    const answered = await fetch;
    expect(answered).not.toBeNull(); // the long poll was answered, not cut off
    expect(await broker.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(broker.output()).toContain("shut down cleanly");
  }, 30_000);

  test("a second broker on the same data dir is refused while the first runs", async () => {
    const b = await startBroker();
    cleanup.push(async () => {
      await b.stop();
      b.cleanup();
    });
    await expect(startBroker({ dataDir: b.dataDir })).rejects.toThrow(/in use by process/);
  });
});

describe("--wal-max-disk-size", () => {
  test("the oldest segments go, the log start offset follows, and it stays moved after a restart", async () => {
    const seg = 256 * 1024;
    let b = await startBroker({ walSegmentMaxBytes: seg, walMaxDiskSize: 4 * seg });
    cleanup.push(() => b.cleanup());
    let c = await RawClient.connect(b.port);
    await createTopic(c, "bounded", 2);
    const value = "x".repeat(4000);
    for (let i = 0; i < 400; i++) {
      const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "bounded", partitionData: [{ index: i % 2, records: buildBatch([{ value: enc.encode(value) }]) }] }] });
      expect(r.responses[0].partitionResponses[0].errorCode).toBe(0);
    }
    const walDir = join(b.dataDir, "wal");
    const size = readdirSync(walDir).reduce((n, f) => n + statSync(join(walDir, f)).size, 0);
    expect(size).toBeLessThanOrEqual(4 * seg);
    const listOffset = async (timestamp: bigint) => (await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: "bounded", partitions: [{ partitionIndex: 0, timestamp }] }] })).topics[0].partitions[0].offset as bigint;
    const earliest = await listOffset(-2n);
    expect(earliest).toBeGreaterThan(0n);
    expect(await listOffset(-1n)).toBe(200n);
    const below = await c.request(1, 12, {
      replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic: "bounded", partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "",
    });
    expect(below.responses[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_OUT_OF_RANGE);
    expect(below.responses[0].partitions[0].logStartOffset).toBe(earliest);
    c.close();
    b = await b.restart();
    cleanup.push(() => b.stop());
    c = await RawClient.connect(b.port);
    const again = await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: "bounded", partitions: [{ partitionIndex: 0, timestamp: -2n }] }] });
    expect(again.topics[0].partitions[0].offset).toBeGreaterThanOrEqual(earliest);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "bounded", partitionData: [{ index: 0, records: buildBatch([{ value: enc.encode("next") }]) }] }] });
    expect(r.responses[0].partitionResponses[0].baseOffset).toBe(200n);
    c.close();
    const recs = (await readTopic(b.port, "bounded")).get(0)!;
    expect(recs[recs.length - 1]!.offset).toBe(200);
  }, 60_000);
});
