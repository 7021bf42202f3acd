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

describeWithPeer(MINIO_PEER_NAME, peer, () => {
  beforeAll(async () => {
    server = await startMinio();
    for (const b of ["repair", "unflushed", "meta", "objects"]) await server.createBucket(b);
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
      const f = await c.request(1, 12, {
        replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
        topics: [{ topic: "pending", partitions: [{ partition: 0, fetchOffset: BigInt(victim.baseOffset), partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "",
      });
      expect(f.responses[0].partitions[0].errorCode).toBe(2); // CORRUPT_MESSAGE
      c.close();
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
    const fetch = async (offset: number) => {
      const f = await c.request(1, 12, {
        replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
        topics: [{ topic: "rot", partitions: [{ partition: 0, fetchOffset: BigInt(offset), partitionMaxBytes: 4096, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "",
      });
      return f.responses[0].partitions[0];
    };
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
