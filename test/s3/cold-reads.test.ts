// Consumers reading what only S3 still holds: the Java client and librdkafka (kcat) read a topic from offset 0 after
// the WAL deleted every segment but the newest, so nearly everything comes back through ranged GETs on MinIO.
// ListOffsets by timestamp reaches into S3 too.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { startBroker, waitFor, type TestBroker } from "../helpers/broker.ts";
import { javaClient, JAVA_PEER_NAME, runJava } from "../helpers/java-peer.ts";
import { minio, MINIO_PEER_NAME, s3Overrides, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer, kcat, run, type PeerResult } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import type { Partition } from "../../src/log/partition.ts";

const peer = await minio();
const java = await javaClient();
const kc = await kcat();
let server: MinioServer;
let tb: TestBroker;

const BASE_TS = 1_700_000_000_000; // KliteJavaClient's record i has timestamp BASE_TS + i
const COUNT = 20_000;
const PARTITIONS = 3;

/** The first offset the WAL still holds for p (its high watermark when the WAL holds none of it). */
function firstInWal(p: Partition): number {
  return p.index.length === 0 ? p.highWatermark : p.index.base[p.index.start]!;
}

const both: PeerResult = !peer.ok ? peer : !java.ok ? java : peer;

describeWithPeer(`${MINIO_PEER_NAME} + ${JAVA_PEER_NAME}`, both, () => {
  beforeAll(async () => {
    server = await startMinio();
    await server.createBucket("cold");
    tb = await startBroker({ ...s3Overrides(server, "cold", { flushIntervalMs: 300 }), walSegmentMaxBytes: 256 << 10 });
    await runJava(["create-topic", "--bootstrap", tb.bootstrap, "--topic", "cold", "--partitions", String(PARTITIONS)]);
    await runJava(["produce", "--bootstrap", tb.bootstrap, "--topic", "cold", "--count", String(COUNT), "--partitions", String(PARTITIONS), "--compression", "lz4"]);
    const parts = Array.from({ length: PARTITIONS }, (_, i) => tb.broker.log.partition("cold", i)!);
    // Flushed, and the WAL let go of everything but its newest segment.
    await waitFor(() => parts.every((p) => p.flushedOffset === p.highWatermark && p.highWatermark > 0), "everything flushed", 60_000);
    await waitFor(() => parts.every((p) => firstInWal(p) > p.highWatermark / 2), "old WAL segments deleted", 60_000);
  }, 300_000);
  afterAll(async () => {
    await tb?.stop();
    tb?.cleanup();
    await server?.stop();
  });

  test("the Java consumer reads all 20,000 records from offset 0, byte for byte, mostly from S3", async () => {
    const gets = tb.broker.s3!.reader.gets;
    const out = await runJava(["consume", "--bootstrap", tb.bootstrap, "--topic", "cold", "--count", String(COUNT), "--partitions", String(PARTITIONS)]);
    expect(out).toContain(`consumed and verified ${COUNT} records`);
    expect(tb.broker.s3!.reader.gets).toBeGreaterThan(gets);
  }, 180_000);

  describeWithPeer("kcat", kc, () => {
    test("kcat (librdkafka) reads every record from offset 0, in order, keys intact", async () => {
      const out = await run([kc.ok ? kc.path : "kcat", "-b", tb.bootstrap, "-C", "-t", "cold", "-o", "beginning", "-e", "-q", "-f", "%p %o %k\\n"], { timeoutMs: 120_000 });
      const lines = out.trim().split("\n");
      expect(lines.length).toBe(COUNT);
      const next = new Array(PARTITIONS).fill(0);
      for (const l of lines) {
        const [p, o, k] = l.split(" ");
        expect(Number(o)).toBe(next[Number(p)]);
        expect(k).toBe(`k-${Number(o) * PARTITIONS + Number(p)}`);
        next[Number(p)]++;
      }
    }, 180_000);
  });

  test("ListOffsets by timestamp finds records that only S3 holds", async () => {
    const c = await RawClient.connect(tb.port);
    const want = 3 * 1000 + 1; // record 3001: partition 1, offset 1000
    const r = await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: "cold", partitions: [{ partitionIndex: 1, timestamp: BigInt(BASE_TS + want) }, { partitionIndex: 0, timestamp: -3n }] }] });
    c.close();
    const [byTs, max] = r.topics[0].partitions;
    expect([byTs.errorCode, Number(byTs.offset), Number(byTs.timestamp)]).toEqual([0, 1000, BASE_TS + want]);
    expect(firstInWal(tb.broker.log.partition("cold", 1)!)).toBeGreaterThan(1000); // so the answer came from S3
    const last0 = Math.floor((COUNT - 1) / PARTITIONS) * PARTITIONS; // the newest record of partition 0
    expect([max.errorCode, Number(max.offset), Number(max.timestamp)]).toEqual([0, last0 / PARTITIONS, BASE_TS + last0]);
  });
});
