// S3 going away: MinIO is killed for 20 s under an acks=all idempotent Java producer; the broker keeps taking
// writes into the WAL, flushing catches up once MinIO is back, and after a kill -9 and a lost data dir the bucket
// alone gives back every acknowledged record. With a tiny memory pool, producers wait while S3 is away (their
// requests stay unanswered, nothing is refused or dropped) and all complete when it returns.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnBroker, startBroker, tempDir, waitFor, type TestBroker } from "../helpers/broker.ts";
import { javaClient, JAVA_PEER_NAME, runJava, spawnJava } from "../helpers/java-peer.ts";
import { minio, MINIO_PEER_NAME, s3Flags, s3Overrides, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer, type PeerResult } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { readTopic } from "../helpers/read-topic.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import { decodeMetaRecords } from "../../src/meta/metadata-log.ts";
import { ObjectNotFound } from "../../src/s3/store.ts";

const peer = await minio();
const java = await javaClient();
let server: MinioServer;
const cleanup: (() => void | Promise<void>)[] = [];
const both: PeerResult = !peer.ok ? peer : !java.ok ? java : peer;

/** Highest flushed end per partition according to the metadata log in the bucket. */
async function flushedInBucket(bucket: string, clusterId: string): Promise<Map<number, number>> {
  const ends = new Map<number, number>();
  try {
    const { records } = decodeMetaRecords((await server.store(bucket).get(`klite-${clusterId}/metadata.log`)).body);
    for (const r of records) if (r.type === "s3-object") ends.set(r.p as number, Math.max(ends.get(r.p as number) ?? 0, (r.l as number) + 1));
  } catch (e) {
    if (!(e instanceof ObjectNotFound)) throw e;
  }
  return ends;
}

describeWithPeer(`${MINIO_PEER_NAME} + ${JAVA_PEER_NAME}`, both, () => {
  beforeAll(async () => {
    server = await startMinio();
    await server.createBucket("outage");
    await server.createBucket("pressure");
  }, 120_000);
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f();
    await server?.stop();
  });

  test("MinIO down for 20 s under an acks=all producer: nothing acknowledged is lost, flushing catches up", async () => {
    const dataDir = tempDir();
    const work = tempDir("klite-outage-");
    cleanup.push(() => rmSync(work, { recursive: true, force: true }));
    const b = await spawnBroker({ dataDir, args: [...s3Flags(server, "outage"), "--s3-flush-interval", "1s"], env: server.env });
    cleanup.push(() => b.kill("SIGKILL"));
    await runJava(["create-topic", "--bootstrap", b.bootstrap, "--topic", "outage", "--partitions", "3"]);
    const acked = join(work, "acked.txt");
    const producer = spawnJava(["stream", "--bootstrap", b.bootstrap, "--topic", "outage", "--acked-file", acked, "--interval-ms", "2"]);
    cleanup.push(() => producer.kill("SIGKILL"));
    await Bun.sleep(3_000);
    const before = readFileSync(acked, "utf8").split("\n").length;
    await server.kill();
    await Bun.sleep(20_000);
    const during = readFileSync(acked, "utf8").split("\n").length;
    expect(during).toBeGreaterThan(before + 100); // the broker kept acknowledging into the WAL
    await server.restart();
    await Bun.sleep(3_000);
    producer.kill("SIGTERM");
    expect(await producer.exited).toBe(0);
    expect(producer.output()).toContain("failed 0");
    const lines = readFileSync(acked, "utf8").trim().split("\n").map((l) => l.split(" "));

    // Flushing catches up: the bucket's metadata log covers every partition up to its high watermark.
    const c = await RawClient.connect(b.port);
    const lo = await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: "outage", partitions: [0, 1, 2].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })) }] });
    c.close();
    const hw = lo.topics[0].partitions.map((p: { offset: bigint }) => Number(p.offset));
    const clusterId = /cluster id ([A-Za-z0-9_-]+)/.exec(b.output())![1]!;
    await waitFor(async () => {
      const ends = await flushedInBucket("outage", clusterId);
      return hw.every((h: number, p: number) => ends.get(p) === h);
    }, "flushing to catch up after the outage", 60_000);
    expect(b.output()).toContain("S3 flush of outage-");

    // The bucket alone now holds every acknowledged record.
    process.kill(b.pid, "SIGKILL");
    await b.exited;
    rmSync(dataDir, { recursive: true, force: true });
    const tb = await startBroker({ dataDir: tempDir(), ...s3Overrides(server, "outage") });
    cleanup.push(async () => {
      await tb.stop();
      tb.cleanup();
    });
    const read = await readTopic(tb.port, "outage");
    const at = new Map<string, string>();
    for (const [p, recs] of read) for (const r of recs) at.set(new TextDecoder().decode(r.key!), `${p} ${r.offset}`);
    expect(lines.length).toBeGreaterThan(1000);
    for (const [key, p, o] of lines) expect(at.get(key!)).toBe(`${p} ${o}`);
  }, 240_000);

  test("a full memory pool makes producers wait while S3 is away; every request completes once it is back", async () => {
    const tb: TestBroker = await startBroker({ ...s3Overrides(server, "pressure", { flushIntervalMs: 100 }), chunkPoolMemory: 1 << 20 });
    cleanup.push(async () => {
      await tb.stop();
      tb.cleanup();
    });
    await tb.broker.catalog.createTopic("bp", 1);
    await server.kill();
    const c = await RawClient.connect(tb.port);
    const value = new Uint8Array(60_000).fill(7);
    let answered = 0;
    const results = Array.from({ length: 40 }, (_, i) =>
      c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 120_000, topicData: [{ name: "bp", partitionData: [{ index: 0, records: buildBatch([{ key: new TextEncoder().encode(`b${i}`), value }]) }] }] }, 120_000).then((r) => {
        answered++;
        return r.responses[0].partitionResponses[0];
      }),
    );
    const log = tb.broker.log;
    await waitFor(() => log.unflushedBytes >= 1 << 20, "the pool to fill", 30_000);
    await Bun.sleep(1_000);
    expect(answered).toBeLessThan(40); // the rest wait: not refused, not dropped
    expect(log.unflushedBytes).toBeLessThanOrEqual((1 << 20) + (128 << 10) + 61_000); // the pool, one WAL group over at most
    expect(log.partition("bp", 0)!.highWatermark).toBe(answered);
    await server.restart();
    const got = await Promise.all(results);
    expect(got.every((r) => r.errorCode === 0)).toBe(true);
    expect(got.map((r) => Number(r.baseOffset)).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    c.close();
    expect((await readTopic(tb.port, "bp")).get(0)!.length).toBe(40);
    await waitFor(() => log.unflushedBytes === 0, "everything flushed", 60_000);
  }, 180_000);
});
