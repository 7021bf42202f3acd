// Issue 12 "Corruption" with the S3 tier (a real MinIO): damage in the WAL over records S3 already holds is repaired
// from S3 (the broker starts, every acknowledged record reads back, the damaged ones from the bucket); damage over
// records S3 does not hold yet is refused loudly, as without S3.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { basename } from "node:path";
import { spawnBroker, startBroker, tempDir, waitFor, type TestBroker } from "../helpers/broker.ts";
import { minio, MINIO_PEER_NAME, s3Flags, s3Overrides, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { keyPositions } from "../helpers/read-topic.ts";
import { damageTopicRecord, flip, sixTopics, topicNames, walEntries } from "../helpers/disk.ts";
import { batches, buildBatch } from "../../src/protocol/records.ts";
import { decodeFooter } from "../../src/s3/object.ts";

const peer = await minio();
let server: MinioServer;
const cleanup: (() => void | Promise<void>)[] = [];
const enc = new TextEncoder();

async function fill(port: number, topic: string, partitions: number, n: number): Promise<Map<string, { p: number; o: number }>> {
  const c = await RawClient.connect(port);
  const cr = await c.request(19, 7, { topics: [{ name: topic, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
  expect(cr.topics[0].errorCode).toBe(0);
  const acked = new Map<string, { p: number; o: number }>();
  for (let i = 0; i < n; i++) {
    const p = i % partitions;
    const keys = [0, 1].map((k) => `${topic}-${i}-${k}`);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: p, records: buildBatch(keys.map((k) => ({ key: enc.encode(k), value: enc.encode(`v-${k}`) }))) }] }] });
    const pr = r.responses[0].partitionResponses[0];
    expect(pr.errorCode).toBe(0);
    keys.forEach((k, j) => acked.set(k, { p, o: Number(pr.baseOffset) + j }));
  }
  c.close();
  return acked;
}

/** One Fetch of one partition from `offset`: its error code and records. */
async function fetchOne(c: RawClient, topic: string, offset: number, maxBytes = 1 << 20) {
  const f = await c.request(1, 12, {
    replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset: BigInt(offset), partitionMaxBytes: maxBytes, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "",
  });
  return f.responses[0].partitions[0];
}

describeWithPeer(MINIO_PEER_NAME, peer, () => {
  beforeAll(async () => {
    server = await startMinio();
    for (const b of ["repair", "unflushed", "meta", "objects", "missing-held", "missing-pending"]) await server.createBucket(b);
  }, 120_000);
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
    await server?.stop();
  });

  describe("WAL", () => {
    test("damage over records S3 holds: the broker starts, and every record reads back (the damaged ones from S3)", async () => {
      let b: TestBroker = await startBroker(s3Overrides(server, "repair", { flushIntervalMs: 100 }));
      const dataDir = b.dataDir;
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const acked = await fill(b.port, "fixed", 2, 400);
      await waitFor(() => [0, 1].every((i) => b.broker.log.partition("fixed", i)!.flushedOffset === 400), "everything flushed to S3", 30_000);
      await b.stop();
      const entries = walEntries(dataDir).filter((e) => e.baseOffset > 10);
      expect(entries.length).toBeGreaterThan(100);
      const victim = entries[Math.floor(entries.length / 2)]!;
      flip(victim.file, victim.batchPos + 80);
      b = await startBroker({ dataDir, ...s3Overrides(server, "repair", { flushIntervalMs: 100 }) });
      cleanup.push(() => b.stop());
      expect(await keyPositions(b.port, "fixed")).toEqual(acked);
    }, 90_000);

    test("damage over records S3 does not hold yet (kill -9 before the flush): refused, naming S3; --accept-data-loss marks them lost", async () => {
      const dataDir = tempDir();
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const spawned = await spawnBroker({ dataDir, args: [...s3Flags(server, "unflushed"), "--s3-flush-interval", "10m"], env: server.env });
      cleanup.push(() => spawned.kill("SIGKILL"));
      await fill(spawned.port, "pending", 1, 300);
      process.kill(spawned.pid, "SIGKILL");
      await spawned.exited;
      const entries = walEntries(dataDir);
      const victim = entries[100]!;
      flip(victim.file, victim.batchPos + 70);
      const err = await startBroker({ dataDir, ...s3Overrides(server, "unflushed") }).then(() => null, (e: Error) => e);
      expect(err?.name).toBe("DataLossError");
      expect(err?.message).toContain(basename(victim.file));
      expect(err?.message).toContain(`pending-0 offsets ${victim.baseOffset}-${victim.baseOffset + 1}`);
      expect(err?.message).toContain("The S3 tier does not hold them");
      const b = await startBroker({ dataDir, acceptDataLoss: true, ...s3Overrides(server, "unflushed") });
      cleanup.push(() => b.stop());
      const c = await RawClient.connect(b.port);
      expect((await fetchOne(c, "pending", victim.baseOffset)).errorCode).toBe(2); // CORRUPT_MESSAGE
      c.close();
    }, 90_000);
  });

  describe("a missing WAL segment file", () => {
    const SMALL = ["--wal-segment-max-bytes", "64KiB"];
    const big = "v".repeat(500);

    /** Produces batches of 2 records; returns what was acknowledged. */
    async function produce(c: RawClient, topic: string, partition: number, n: number, acked: Map<string, { p: number; o: number }>) {
      for (let i = 0; i < n; i++) {
        const keys = [0, 1].map((k) => `${topic}-${partition}-${acked.size}-${k}`);
        const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: partition, records: buildBatch(keys.map((k) => ({ key: enc.encode(k), value: enc.encode(big) }))) }] }] });
        const pr = r.responses[0].partitionResponses[0];
        expect(pr.errorCode).toBe(0);
        keys.forEach((k, j) => acked.set(k, { p: partition, o: Number(pr.baseOffset) + j }));
      }
    }

    async function lastTiered(c: RawClient, topic: string, partition: number): Promise<number> {
      const r = await c.request(2, 9, { replicaId: -1, isolationLevel: 0, topics: [{ name: topic, partitions: [{ partitionIndex: partition, currentLeaderEpoch: -1, timestamp: -5n }] }] });
      return Number(r.topics[0].partitions[0].offset);
    }

    test("one whose records S3 holds: the broker starts, and every acknowledged record reads back (those from S3)", async () => {
      const dataDir = tempDir();
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      // Partition 1's one early batch stays unflushed (an hour), so the WAL keeps every segment after it; partition 0
      // goes to S3 in 16 KiB objects as it fills them.
      const spawned = await spawnBroker({ dataDir, args: [...s3Flags(server, "missing-held"), ...SMALL, "--s3-flush-interval", "1h", "--s3-target-object-size", "16KiB"], env: server.env });
      cleanup.push(() => spawned.kill("SIGKILL"));
      const c = await RawClient.connect(spawned.port);
      const cr = await c.request(19, 7, { topics: [{ name: "held", numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
      expect(cr.topics[0].errorCode).toBe(0);
      const acked = new Map<string, { p: number; o: number }>();
      await produce(c, "held", 1, 1, acked);
      await produce(c, "held", 0, 600, acked);
      await produce(c, "held", 1, 1, acked); // partition 1 goes on after the segment that will go missing
      await waitFor(async () => (await lastTiered(c, "held", 0)) >= 1000, "partition 0 mostly in S3", 30_000);
      const tiered = await lastTiered(c, "held", 0);
      c.close();
      process.kill(spawned.pid, "SIGKILL");
      await spawned.exited;
      const entries = walEntries(dataDir);
      const segments = [...new Set(entries.map((e) => e.segment))];
      const victim = segments.find((s) => s > segments[0]! && entries.filter((e) => e.segment === s).every((e) => e.partition === 0 && e.baseOffset + 1 <= tiered))!;
      expect(victim).toBeDefined();
      rmSync(entries.find((e) => e.segment === victim)!.file);
      const b = await startBroker({ dataDir, walSegmentMaxBytes: 64 << 10, ...s3Overrides(server, "missing-held", { flushIntervalMs: 3_600_000, targetObjectSize: 16 << 10 }) });
      cleanup.push(() => b.stop());
      expect(await keyPositions(b.port, "held")).toEqual(acked);
    }, 90_000);

    test("one S3 does not hold yet (kill -9 before the flush): refused, naming the file, the offsets and S3; --accept-data-loss marks them lost", async () => {
      const dataDir = tempDir();
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const spawned = await spawnBroker({ dataDir, args: [...s3Flags(server, "missing-pending"), ...SMALL, "--s3-flush-interval", "10m"], env: server.env });
      cleanup.push(() => spawned.kill("SIGKILL"));
      const c = await RawClient.connect(spawned.port);
      const cr = await c.request(19, 7, { topics: [{ name: "pending", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
      expect(cr.topics[0].errorCode).toBe(0);
      await produce(c, "pending", 0, 300, new Map());
      c.close();
      process.kill(spawned.pid, "SIGKILL");
      await spawned.exited;
      const entries = walEntries(dataDir);
      const segments = [...new Set(entries.map((e) => e.segment))];
      expect(segments.length).toBeGreaterThan(3);
      const lost = entries.filter((e) => e.segment === segments[1]);
      const [start, end] = [lost[0]!.baseOffset, lost.at(-1)!.baseOffset + 1];
      rmSync(lost[0]!.file);
      const s3 = s3Overrides(server, "missing-pending");
      const err = await startBroker({ dataDir, walSegmentMaxBytes: 64 << 10, ...s3 }).then(() => null, (e: Error) => e);
      expect(err?.name).toBe("DataLossError");
      expect(err?.message).toContain(`${basename(lost[0]!.file)} is missing`);
      expect(err?.message).toContain(`pending-0 offsets ${start}-${end}`);
      expect(err?.message).toContain("The S3 tier does not hold them");
      const b = await startBroker({ dataDir, walSegmentMaxBytes: 64 << 10, acceptDataLoss: true, ...s3 });
      cleanup.push(() => b.stop());
      const r = await RawClient.connect(b.port);
      const fetch = (offset: number) => fetchOne(r, "pending", offset);
      expect((await fetch(start)).errorCode).toBe(2); // CORRUPT_MESSAGE
      expect((await fetch(end + 1)).errorCode).toBe(0);
      expect([...batches((await fetch(end + 1)).records)][0]!.baseOffset).toBe(end + 1);
      r.close();
    }, 90_000);
  });

  test("metadata log: one changed byte (case 9) is restored from the bucket's copy; every topic and record is there", async () => {
    let b: TestBroker = await startBroker({ autoCreateTopics: false, ...s3Overrides(server, "meta", { flushIntervalMs: 100 }) });
    const dataDir = b.dataDir;
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    await sixTopics(b.port);
    await b.stop(); // uploads the metadata log last
    damageTopicRecord(dataDir, "t2");
    b = await startBroker({ dataDir, autoCreateTopics: false, ...s3Overrides(server, "meta", { flushIntervalMs: 100 }) });
    cleanup.push(() => b.stop());
    expect(await topicNames(b.port)).toEqual(["t0", "t1", "t2", "t3", "t4", "t5"]);
    for (let i = 0; i < 6; i++) expect((await keyPositions(b.port, `t${i}`)).size).toBe(3);
  }, 90_000);

  test("a data object damaged in the bucket: reads of that batch get CORRUPT_MESSAGE, everything else is served", async () => {
    const dataDir = tempDir();
    const b = await startBroker({ dataDir, ...s3Overrides(server, "objects", { flushIntervalMs: 100 }) });
    const acked = await fill(b.port, "rot", 1, 50);
    await b.stop(); // everything flushed
    const clusterId = b.broker.context.clusterId;
    rmSync(dataDir, { recursive: true, force: true }); // the WAL is gone: S3 is the only copy
    const store = server.store("objects");
    const keys = (await store.list(`klite-${clusterId}/`)).objects.map((o) => o.key).filter((k) => k.endsWith(".obj"));
    expect(keys.length).toBeGreaterThan(0);
    const obj = (await store.get(keys[0]!)).body.slice();
    const footer = decodeFooter(obj, obj.length);
    if ("need" in footer) throw new Error("footer");
    const victim = 10;
    const at = footer.pos[victim]! + 70;
    obj[at] ^= 0xff; // bit rot inside one batch's records
    await store.put(keys[0]!, obj);
    const fresh = tempDir();
    cleanup.push(() => rmSync(fresh, { recursive: true, force: true }));
    const again = await startBroker({ dataDir: fresh, clusterId, ...s3Overrides(server, "objects") });
    cleanup.push(() => again.stop());
    const c = await RawClient.connect(again.port);
    const fetch = (offset: number) => fetchOne(c, "rot", offset, 4096);
    const bad = footer.base[victim]!;
    expect((await fetch(bad)).errorCode).toBe(2); // CORRUPT_MESSAGE
    const before = await fetch(0);
    expect(before.errorCode).toBe(0);
    expect([...batches(before.records)].length).toBeGreaterThan(0);
    const after = await fetch(bad + 2);
    expect(after.errorCode).toBe(0);
    expect([...batches(after.records)][0]!.baseOffset).toBe(bad + 2);
    c.close();
    expect(acked.size).toBe(100);
  }, 90_000);
});
