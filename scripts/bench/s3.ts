#!/usr/bin/env bun
// The S3 tier's numbers, against a local MinIO (built by the test helpers into ~/.cache/klite-test-peers):
//   1. produce --gib GiB over --partitions partitions into a broker with S3 (flush interval 2 s, 64 MiB objects)
//      and count every S3 request until it is all flushed: requests per flushed MB;
//   2. stop it (final flush + metadata upload), then start a broker on an empty data dir against the bucket:
//      recovery time;
//   3. read one partition from that broker, where only S3 has it: cold-read throughput;
//   4. for comparison, a broker without S3: read a partition of the same size right after producing it (memory
//      chunks), and again after a restart (WAL file reads through the page cache): hot-read throughput.
// Reads are one consumer, one fetch in flight, 1 MiB per partition per fetch (the Java consumer's default).
//   bun scripts/bench/s3.ts [--gib 1] [--partitions 4] [--record-size 1024] [--batch-records 64]
import { rmSync } from "node:fs";
import { Broker } from "../../src/broker/broker.ts";
import { testConfig, type Config } from "../../src/config.ts";
import { silentLogger } from "../../src/logger.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import { AwsObjectStore } from "../../src/s3/aws-store.ts";
import type { ByteRange, ObjectStore, PutConditions } from "../../src/s3/store.ts";
import { tempDir } from "../../test/helpers/broker.ts";
import { minio, s3Overrides, startMinio } from "../../test/helpers/minio.ts";
import { RawClient } from "../../test/helpers/raw-client.ts";

const argv = process.argv.slice(2);
const arg = (name: string, d: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : d;
};
const GIB = Number(arg("gib", "1"));
const PARTITIONS = Number(arg("partitions", "4"));
const RECORD = Number(arg("record-size", "1024"));
const PER_BATCH = Number(arg("batch-records", "64"));
const MB = 1_000_000;

/** Counts the requests a broker makes, by kind. */
class CountingStore implements ObjectStore {
  counts = { put: 0, get: 0, head: 0, list: 0, delete: 0 };
  constructor(private readonly inner: ObjectStore) {}
  get describe() {
    return this.inner.describe;
  }
  get total() {
    return Object.values(this.counts).reduce((a, b) => a + b, 0);
  }
  reset() {
    for (const k of Object.keys(this.counts) as (keyof typeof this.counts)[]) this.counts[k] = 0;
  }
  put(key: string, body: Uint8Array, cond?: PutConditions) {
    this.counts.put++;
    return this.inner.put(key, body, cond);
  }
  get(key: string, range?: ByteRange, ifMatch?: string) {
    this.counts.get++;
    return this.inner.get(key, range, ifMatch);
  }
  head(key: string) {
    this.counts.head++;
    return this.inner.head(key);
  }
  list(prefix: string, opts?: { delimiter?: string; startAfter?: string }) {
    this.counts.list++;
    return this.inner.list(prefix, opts);
  }
  delete(key: string) {
    this.counts.delete++;
    return this.inner.delete(key);
  }
}

async function produce(port: number, topic: string, partitions: number, bytes: number): Promise<number> {
  const value = new Uint8Array(RECORD).map((_, i) => (i * 31 + 7) & 255);
  const batch = buildBatch(Array.from({ length: PER_BATCH }, (_, i) => ({ key: new TextEncoder().encode(`key-${i}`), value })));
  const perWorker = Math.ceil(bytes / partitions / batch.length / 4); // 4 requests in flight per partition
  const t0 = performance.now();
  const c = await RawClient.connect(port);
  await Promise.all(
    Array.from({ length: partitions * 4 }, async (_, w) => {
      for (let i = 0; i < perWorker; i++) {
        const r = await c.request(0, 9, { transactionalId: null, acks: 1, timeoutMs: 60_000, topicData: [{ name: topic, partitionData: [{ index: w % partitions, records: batch }] }] }, 120_000);
        if (r.responses[0].partitionResponses[0].errorCode !== 0) throw new Error(`produce error ${r.responses[0].partitionResponses[0].errorCode}`);
      }
    }),
  );
  c.close();
  const secs = (performance.now() - t0) / 1000;
  return (perWorker * partitions * 4 * batch.length) / secs / MB;
}

/** Reads partition 0 of `topic` from offset 0 to its end; returns MB/s. */
async function readAll(port: number, topic: string, end: number): Promise<{ mbps: number; mb: number }> {
  const c = await RawClient.connect(port);
  let offset = 0;
  let bytes = 0;
  const t0 = performance.now();
  while (offset < end) {
    const f = await c.request(1, 12, {
      replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 50 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
      topics: [{ topic, partitions: [{ partition: 0, fetchOffset: BigInt(offset), partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "",
    }, 60_000);
    const pd = f.responses[0].partitions[0];
    if (pd.errorCode !== 0) throw new Error(`fetch error ${pd.errorCode} at ${offset}`);
    const data = (Array.isArray(pd.records) ? Buffer.concat(pd.records) : pd.records) as Uint8Array;
    let pos = 0;
    while (pos + 61 <= data.length) {
      const dv = new DataView(data.buffer, data.byteOffset + pos);
      offset = Number(dv.getBigInt64(0)) + dv.getInt32(23) + 1;
      pos += dv.getInt32(8) + 12;
    }
    bytes += data.length;
  }
  c.close();
  const secs = (performance.now() - t0) / 1000;
  return { mbps: bytes / secs / MB, mb: bytes / MB };
}

const peer = await minio();
if (!peer.ok) throw new Error(`MinIO is unavailable: ${peer.reason}`);
const server = await startMinio();
await server.createBucket("bench");
const store = new CountingStore(new AwsObjectStore({ bucket: "bench", region: "us-east-1", endpoint: server.endpoint }));
const dirs: string[] = [];
const start = async (overrides: Partial<Config>, s3 = true, flushIntervalMs?: number) => {
  const dataDir = tempDir("klite-bench-s3-");
  dirs.push(dataDir);
  const config = testConfig({ dataDir, ...(s3 ? s3Overrides(server, "bench", flushIntervalMs ? { flushIntervalMs } : {}) : {}), ...overrides });
  return Broker.start(config, silentLogger, s3 ? { objectStore: store } : {});
};
const result: Record<string, unknown> = { gib: GIB, partitions: PARTITIONS, recordSize: RECORD, batchRecords: PER_BATCH };
try {
  // 1. Produce with S3, count requests until everything is flushed.
  const b1 = await start({}, true, 2000);
  await b1.catalog.createTopic("bench", PARTITIONS);
  await b1.s3!.uploader.upload();
  const metaKey = `${b1.s3!.root}metadata.log`;
  const staleMetadata = (await store.get(metaKey)).body; // knows the topic, none of its objects
  store.reset();
  result.produceMBps = +(await produce(b1.address.port, "bench", PARTITIONS, GIB * 1024 ** 3)).toFixed(1);
  const parts = Array.from({ length: PARTITIONS }, (_, i) => b1.log.partition("bench", i)!);
  while (!parts.every((p) => p.flushedOffset === p.highWatermark)) await Bun.sleep(50);
  const flushedMB = b1.s3!.flusher.stats.bytes / MB;
  result.flush = { objects: b1.s3!.flusher.stats.objects, flushedMB: +flushedMB.toFixed(1), requests: { ...store.counts }, requestsPerFlushedMB: +(store.total / flushedMB).toFixed(3) };
  const end0 = parts[0]!.highWatermark;
  await b1.stop();

  // 2. Recovery from an empty data dir: with the metadata log uploaded at shutdown, and with one from before any
  //    flush (a crash right after flushing), where every object is found by listing and its footer read.
  const recover = async () => {
    store.reset();
    const t0 = performance.now();
    const b = await start({});
    return { b, ms: Math.round(performance.now() - t0), requests: { ...store.counts } };
  };
  const stale = await (async () => {
    const current = (await store.get(metaKey)).body;
    await store.put(metaKey, staleMetadata);
    const r = await recover();
    await r.b.stop(); // uploads what it reconciled
    await store.put(metaKey, current);
    return r;
  })();
  const { b: b2, ms, requests } = await recover();
  result.recovery = { ms, requests, fromStaleMetadata: { ms: stale.ms, requests: stale.requests } };

  // 3. Cold read: only S3 has the data.
  store.reset();
  const cold = await readAll(b2.address.port, "bench", end0);
  result.coldRead = { MBps: +cold.mbps.toFixed(1), MB: +cold.mb.toFixed(1), gets: store.counts.get, getsPerMB: +(store.counts.get / cold.mb).toFixed(3) };
  await b2.stop();

  // 4. Hot reads without S3: from memory chunks right after producing, then from the WAL after a restart.
  const b3 = await start({ chunkPoolMemory: 2 * 1024 ** 3 }, false);
  await b3.catalog.createTopic("hot", 1);
  await produce(b3.address.port, "hot", 1, cold.mb * MB);
  const end3 = b3.log.partition("hot", 0)!.highWatermark;
  const mem = await readAll(b3.address.port, "hot", end3);
  const dir3 = b3.context.config.dataDir;
  await b3.stop();
  const b4 = await Broker.start(testConfig({ dataDir: dir3 }), silentLogger);
  const wal = await readAll(b4.address.port, "hot", end3);
  await b4.stop();
  result.hotRead = { memoryMBps: +mem.mbps.toFixed(1), walMBps: +wal.mbps.toFixed(1), MB: +wal.mb.toFixed(1) };
} finally {
  await server.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
console.log(JSON.stringify(result, null, 2));
