// Recovery from the bucket alone, against a real MinIO: kill -9 after a flush and a lost data dir; SIGTERM with a
// 10-minute flush interval (shutdown must flush everything; the compiled binary, so the SDK is proven there); and a broker that cannot use its bucket (missing
// bucket, wrong credentials) refusing to start with a message naming bucket and endpoint.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ensureBinary } from "../helpers/binary.ts";
import { spawnBroker, startBroker, tempDir, waitFor, type SpawnedBroker, type TestBroker } from "../helpers/broker.ts";
import { minio, MINIO_PEER_NAME, s3Flags, s3Overrides, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { readTopic } from "../helpers/read-topic.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import { decodeMetaRecords, type RawRecord } from "../../src/meta/metadata-log.ts";
import { ObjectNotFound } from "../../src/s3/store.ts";

const peer = await minio();
let server: MinioServer;
const cleanup: (() => void | Promise<void>)[] = [];
const enc = new TextEncoder();
const dec = new TextDecoder();

function produceBody(topic: string, partition: number, keys: string[]) {
  return { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: partition, records: buildBatch(keys.map((k) => ({ key: enc.encode(k), value: enc.encode(`value-of-${k}`) }))) }] }] };
}

/** Produces `rounds` batches of 5 keys to each partition; returns key → partition/offset of what was acknowledged. */
async function produceKeys(port: number, topic: string, partitions: number, rounds: number, tag: string): Promise<Map<string, { p: number; o: number }>> {
  const acked = new Map<string, { p: number; o: number }>();
  const c = await RawClient.connect(port);
  for (let r = 0; r < rounds; r++) {
    await Promise.all(
      Array.from({ length: partitions }, async (_, p) => {
        const keys = Array.from({ length: 5 }, (_, i) => `${tag}-${r}-${p}-${i}`);
        const res = await c.request(0, 9, produceBody(topic, p, keys));
        const pr = res.responses[0].partitionResponses[0];
        expect(pr.errorCode).toBe(0);
        keys.forEach((k, i) => acked.set(k, { p, o: Number(pr.baseOffset) + i }));
      }),
    );
  }
  c.close();
  return acked;
}

/** Every acknowledged key is at its partition and offset, and nothing else is there. */
async function expectExactly(port: number, topic: string, acked: Map<string, { p: number; o: number }>): Promise<void> {
  const read = await readTopic(port, topic);
  let n = 0;
  for (const [p, recs] of read) {
    for (const r of recs) {
      const key = dec.decode(r.key!);
      expect(acked.get(key)).toEqual({ p, o: r.offset });
      expect(dec.decode(r.value!)).toBe(`value-of-${key}`);
      n++;
    }
  }
  expect(n).toBe(acked.size);
}

/** The records of the metadata log the broker uploaded last, or [] when there is none yet. */
async function uploadedMetadata(bucket: string, clusterId: string): Promise<RawRecord[]> {
  try {
    return decodeMetaRecords((await server.store(bucket).get(`klite-${clusterId}/metadata.log`)).body).records;
  } catch (e) {
    if (e instanceof ObjectNotFound) return [];
    throw e;
  }
}

function clusterIdOf(b: SpawnedBroker): string {
  return /cluster id ([A-Za-z0-9_-]+)/.exec(b.output())![1]!;
}

describeWithPeer(MINIO_PEER_NAME, peer, () => {
  beforeAll(async () => {
    server = await startMinio();
    for (const b of ["restore", "sigterm", "startup"]) await server.createBucket(b);
  }, 120_000);
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
    await server?.stop();
  });

  test("kill -9 after a flush, data dir deleted, start again against the bucket: topics, configs, committed offsets, every record", async () => {
    const dataDir = tempDir();
    const b = await spawnBroker({ dataDir, args: [...s3Flags(server, "restore"), "--s3-flush-interval", "1s"], env: server.env });
    cleanup.push(() => b.kill("SIGKILL"));
    const c = await RawClient.connect(b.port);
    const created = await c.request(19, 7, {
      topics: [
        { name: "orders", numPartitions: 3, replicationFactor: 1, assignments: [], configs: [{ name: "retention.ms", value: "86400000" }, { name: "max.message.bytes", value: "2000000" }] },
        { name: "audit", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [{ name: "cleanup.policy", value: "compact" }] },
      ],
      timeoutMs: 5000,
    });
    expect(created.topics.map((t: { errorCode: number }) => t.errorCode)).toEqual([0, 0]);
    const orders = await produceKeys(b.port, "orders", 3, 20, "o");
    const audit = await produceKeys(b.port, "audit", 1, 7, "a");
    const commit = await c.request(8, 8, { groupId: "billing", generationIdOrMemberEpoch: -1, memberId: "", groupInstanceId: null, topics: [{ name: "orders", partitions: [{ partitionIndex: 0, committedOffset: 17n, committedLeaderEpoch: -1, committedMetadata: "m0" }, { partitionIndex: 2, committedOffset: 42n, committedLeaderEpoch: -1, committedMetadata: null }] }] });
    expect(commit.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([0, 0]);
    c.close();

    // Wait until the bucket's metadata log knows every record and the commits (flush + upload happen within ~1 s).
    const clusterId = clusterIdOf(b);
    await waitFor(async () => {
      const recs = await uploadedMetadata("restore", clusterId);
      const flushedTo = (l: number) => recs.filter((r) => r.type === "s3-object").reduce((n, r) => n + (r.l === l - 1 ? 1 : 0), 0);
      return recs.some((r) => r.type === "offset" && r.p === 2 && r.o === 42) && flushedTo(100) === 3 && flushedTo(35) === 1;
    }, "flushed data and committed offsets in the bucket", 30_000);
    process.kill(b.pid, "SIGKILL");
    await b.exited;
    rmSync(dataDir, { recursive: true, force: true });

    const fresh = tempDir();
    const tb = await startBroker({ dataDir: fresh, ...s3Overrides(server, "restore") });
    cleanup.push(async () => {
      await tb.stop();
      tb.cleanup();
    });
    expect(tb.broker.context.clusterId).toBe(clusterId);
    const o = tb.broker.catalog.topic("orders")!;
    expect(o.partitions).toBe(3);
    expect(Object.fromEntries(o.configs)).toEqual({ "retention.ms": "86400000", "max.message.bytes": "2000000" });
    expect(Object.fromEntries(tb.broker.catalog.topic("audit")!.configs)).toEqual({ "cleanup.policy": "compact" });
    const rc = await RawClient.connect(tb.port);
    const fetched = await rc.request(9, 9, { groups: [{ groupId: "billing", memberId: null, memberEpoch: -1, topics: [{ name: "orders", partitionIndexes: [0, 1, 2] }] }], requireStable: true });
    const offsets = fetched.groups[0].topics[0].partitions.map((p: { committedOffset: bigint; metadata: string | null }) => [Number(p.committedOffset), p.metadata]);
    expect(offsets).toEqual([[17, "m0"], [-1, ""], [42, ""]]);
    await expectExactly(tb.port, "orders", orders);
    await expectExactly(tb.port, "audit", audit);
    // Appends continue after the restored offsets.
    const more = await rc.request(0, 9, produceBody("orders", 1, ["after-restore"]));
    expect(more.responses[0].partitionResponses[0].baseOffset).toBe(100n);
    rc.close();
  }, 180_000);

  test("SIGTERM with a 10 min flush interval (compiled binary): afterwards the bucket alone holds every acknowledged record", async () => {
    const dataDir = tempDir();
    const b = await spawnBroker({ command: [await ensureBinary()], dataDir, args: [...s3Flags(server, "sigterm"), "--s3-flush-interval", "10m"], env: server.env, timeoutMs: 120_000 });
    cleanup.push(() => b.kill("SIGKILL"));
    const c = await RawClient.connect(b.port);
    expect((await c.request(19, 7, { topics: [{ name: "late", numPartitions: 4, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 })).topics[0].errorCode).toBe(0);
    c.close();
    const acked = await produceKeys(b.port, "late", 4, 50, "l");
    const clusterId = clusterIdOf(b);
    expect((await server.store("sigterm").list(`klite-${clusterId}/late-`)).objects).toEqual([]); // nothing flushed yet
    b.kill("SIGTERM");
    expect(await b.exited).toBe(0);
    rmSync(dataDir, { recursive: true, force: true });

    const tb = await startBroker({ dataDir: tempDir(), ...s3Overrides(server, "sigterm") });
    cleanup.push(async () => {
      await tb.stop();
      tb.cleanup();
    });
    await expectExactly(tb.port, "late", acked);
  }, 120_000);

  test("a missing bucket or wrong credentials: the start fails with a message naming bucket and endpoint", async () => {
    const missing = await spawnBroker({ args: [...s3Flags(server, "no-such-bucket")], env: server.env }).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(missing).toContain("broker did not start (exit 1)");
    expect(missing).toContain(`bucket "no-such-bucket" at ${server.endpoint}`);
    expect(missing).toContain("NoSuchBucket");

    const denied = await spawnBroker({ args: [...s3Flags(server, "startup")], env: { ...server.env, AWS_SECRET_ACCESS_KEY: "not-the-secret" } }).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(denied).toContain("broker did not start (exit 1)");
    expect(denied).toContain(`bucket "startup" at ${server.endpoint}`);
    expect(denied).toContain("SignatureDoesNotMatch");
  }, 60_000);
});
