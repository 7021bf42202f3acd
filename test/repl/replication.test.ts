// Replicated mode with two brokers in this process and a real MinIO: the first node becomes primary, the second a
// standby that answers clients "not here" and holds every acknowledged record (written through its own WAL with the
// primary's sequence numbers); the standby becomes in sync and is listed in the lease; a graceful stop of the primary
// hands over to the standby, which serves every acknowledged record, keeps the partition's leader epoch (Metadata and
// OffsetForLeaderEpoch answer as before, so a consumer validating its position after the change carries on), and
// goes on taking produce.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { Broker } from "../../src/broker/broker.ts";
import { testConfig, type Config } from "../../src/config.ts";
import { createLogger, silentLogger } from "../../src/logger.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { readTopic } from "../helpers/read-topic.ts";
import { tempDir } from "../helpers/broker.ts";
import { minio, MINIO_PEER_NAME, s3Overrides, startMinio, type MinioServer } from "../helpers/minio.ts";
import { describeWithPeer } from "../helpers/peers.ts";

const enc = new TextEncoder();
const logger = process.env.KLITE_TEST_LOG ? createLogger(process.env.KLITE_TEST_LOG) : silentLogger;

function replicatedConfig(server: MinioServer, bucket: string, id: string, nodeId: number, dataDir: string): Config {
  return testConfig({
    dataDir,
    nodeId,
    walSyncIntervalMs: 1,
    ...s3Overrides(server, bucket),
    replicationAddr: { host: "127.0.0.1", port: 0 },
    replicationId: id,
    leaseDurationMs: 3000,
    leaseRenewIntervalMs: 500,
    leaseRetryIntervalMs: 200,
    replicationAckTimeoutMs: 2000,
  });
}

async function until<T>(what: string, f: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

async function produce(port: number, topic: string, keys: string[]): Promise<{ errorCode: number; baseOffset: bigint }> {
  const c = await RawClient.connect(port);
  try {
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch(keys.map((k) => ({ key: enc.encode(k), value: enc.encode(`v-${k}`) }))) }] }] });
    return r.responses[0].partitionResponses[0];
  } finally {
    c.close();
  }
}

/** What a Java consumer looks at after a leader change: the partition's leader epoch in Metadata, and the end offset of
 * the epoch it last saw (OffsetForLeaderEpoch, KIP-320), which must not be below its position. */
async function leaderEpochView(port: number, topic: string, epochSeen: number): Promise<{ metadataEpoch: number; errorCode: number; endOffset: bigint }> {
  const c = await RawClient.connect(port);
  try {
    const md = await c.request(3, 9, { topics: [{ name: topic }], allowAutoTopicCreation: false, includeClusterAuthorizedOperations: false, includeTopicAuthorizedOperations: false });
    const metadataEpoch = md.topics[0].partitions[0].leaderEpoch as number;
    const r = await c.request(23, 4, { replicaId: -1, topics: [{ topic, partitions: [{ partition: 0, currentLeaderEpoch: metadataEpoch, leaderEpoch: epochSeen }] }] });
    const p = r.topics[0].partitions[0];
    return { metadataEpoch, errorCode: p.errorCode, endOffset: p.endOffset };
  } finally {
    c.close();
  }
}

const peerResult = await minio();
describeWithPeer(MINIO_PEER_NAME, peerResult, () => {
  let server: MinioServer;
  const dirs: string[] = [];
  beforeAll(async () => {
    server = await startMinio();
    await server.createBucket("repl");
  });
  afterAll(async () => {
    await server?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test("primary and standby: the standby holds every acknowledged record; a graceful stop hands over", async () => {
    const [da, db] = [tempDir(), tempDir()];
    dirs.push(da, db);
    const a = await Broker.start(replicatedConfig(server, "repl", "node-a", 1, da), logger);
    await until("a is primary", () => a.role === "primary");
    const b = await Broker.start(replicatedConfig(server, "repl", "node-b", 2, db), logger);
    expect(b.role).toBe("standby");
    await until("b in sync", () => (a.replication()?.standby as { inSync: boolean } | null)?.inSync);

    // A client that reaches the standby is told to look elsewhere.
    const onStandby = await produce(b.address.port, "orders", ["x"]);
    expect(onStandby.errorCode).not.toBe(0);
    const c = await RawClient.connect(a.address.port);
    await c.request(19, 5, { topics: [{ name: "orders", numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 5000, validateOnly: false });
    c.close();
    for (let i = 0; i < 20; i++) {
      const r = await produce(a.address.port, "orders", [`k${i}-1`, `k${i}-2`]);
      expect(r.errorCode).toBe(0);
    }
    // The lease lists b as in sync; b's log has every record.
    const pb = b.log.partition("orders", 0)!;
    expect(pb.highWatermark).toBe(40);
    const standbyAnswer = await produce(b.address.port, "orders", ["y"]);
    expect(standbyAnswer.errorCode).toBe(ErrorCode.NOT_LEADER_OR_FOLLOWER);

    const before = await leaderEpochView(a.address.port, "orders", 0);
    expect(before).toEqual({ metadataEpoch: before.metadataEpoch, errorCode: 0, endOffset: 40n });

    await a.stop();
    await until("b is primary", () => b.role === "primary", 10_000);
    // The partition keeps its leader epoch across the failover (the new primary holds the same log), so a consumer
    // that saw epoch E at position 40 is told epoch E ends at 40 or later: no truncation, no reset.
    const view = await leaderEpochView(b.address.port, "orders", before.metadataEpoch);
    expect(view).toEqual({ metadataEpoch: before.metadataEpoch, errorCode: 0, endOffset: 40n });
    const records = await readTopic(b.address.port, "orders");
    expect(records.get(0)!.map((r) => new TextDecoder().decode(r.key!))).toEqual(Array.from({ length: 20 }, (_, i) => [`k${i}-1`, `k${i}-2`]).flat());
    const after = await produce(b.address.port, "orders", ["after"]);
    expect(after.errorCode).toBe(0);
    expect(after.baseOffset).toBe(40n);
    await b.stop();
  }, 60_000);
});
