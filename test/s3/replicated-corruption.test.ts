// Issue 12 "Corruption" in replicated mode (a pair of compiled klite processes on a real MinIO): a node whose WAL is
// damaged over records S3 does not hold yet (flushes an hour apart), while its peer holds them. It must neither serve
// nor take over with the hole: it starts as a standby with its WAL set aside, is copied back in full from the
// primary, and can then take over with every acknowledged record. A primary that had no standby in sync has no peer
// holding them: its start is refused, saying so.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { ensureBinary } from "../helpers/binary.ts";
import { minio, MINIO_PEER_NAME, startMinio, type MinioServer } from "../helpers/minio.ts";
import { createTopic, FAST, Node, primaryInSync, primaryOf, until } from "../helpers/pair.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { keyPositions } from "../helpers/read-topic.ts";
import { flip, walEntries } from "../helpers/disk.ts";
import { buildBatch } from "../../src/protocol/records.ts";

const peer = await minio();
const enc = new TextEncoder();
let server: MinioServer;
const nodes: Node[] = [];

function twoNodes(bucket: string): [Node, Node] {
  const args = () => [
    "--s3-bucket", bucket, "--s3-endpoint", server.endpoint, "--s3-region", "us-east-1",
    "--lease-duration", `${FAST.leaseMs}ms`, "--lease-renew-interval", `${FAST.renewMs}ms`, "--lease-retry-interval", `${FAST.retryMs}ms`,
    "--replication-ack-timeout", `${FAST.ackTimeoutMs}ms`, "--s3-flush-interval", "1h", "--wal-segment-max-bytes", "64KiB",
  ];
  const pair: [Node, Node] = [new Node("node-a", 1, args, server.env), new Node("node-b", 2, args, server.env)];
  nodes.push(...pair);
  return pair;
}

/** Produces `n` batches of 2 records (acks=all) through `port`; returns what was acknowledged. */
async function produce(port: number, topic: string, n: number): Promise<Map<string, { p: number; o: number }>> {
  await createTopic(port, topic);
  const c = await RawClient.connect(port);
  const acked = new Map<string, { p: number; o: number }>();
  for (let i = 0; i < n; i++) {
    const keys = [0, 1].map((k) => `${topic}-${i}-${k}`);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 10_000, topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch(keys.map((k) => ({ key: enc.encode(k), value: enc.encode("v".repeat(300)) }))) }] }] });
    const pr = r.responses[0].partitionResponses[0];
    expect(pr.errorCode).toBe(0);
    keys.forEach((k, j) => acked.set(k, { p: 0, o: Number(pr.baseOffset) + j }));
  }
  c.close();
  return acked;
}

/** Node a primary, node b its standby in sync, 400 batches acknowledged by both. */
async function syncedPair(bucket: string) {
  const [a, b] = twoNodes(bucket);
  await a.start();
  await primaryOf([a]);
  await b.start();
  await primaryInSync([a, b]);
  return { a, b, acked: await produce(a.kafkaPort, "t", 400) };
}

/** Flips 4 bytes inside a batch in the middle of a node's WAL (later groups follow it: corruption, not a torn tail). */
function damage(n: Node): { start: number } {
  const entries = walEntries(n.dataDir);
  expect(entries.length).toBeGreaterThan(100);
  const victim = entries[Math.floor(entries.length / 2)]!;
  flip(victim.file, victim.batchPos + 80);
  return { start: victim.baseOffset };
}

describeWithPeer(MINIO_PEER_NAME, peer, () => {
  beforeAll(async () => {
    await ensureBinary();
    server = await startMinio();
    for (const b of ["dmg-standby", "dmg-primary", "dmg-alone", "dmg-running", "dmg-session", "dmg-length"]) await server.createBucket(b);
  }, 300_000);
  afterAll(async () => {
    for (const n of nodes) await n.kill();
    for (const n of nodes) n.cleanup();
    await server?.stop();
  });

  describe("a damaged WAL range S3 does not hold, with a peer", () => {
    test("the standby's: it starts as a standby, is copied back in full, and then takes over with every record", async () => {
      const { a, b, acked } = await syncedPair("dmg-standby");
      await b.kill();
      const { start } = damage(b);
      await b.start(); // not refused
      await until("the standby's note", () => /holds them: this node starts as a standby/.test(b.output()));
      expect(b.output()).toContain(`t-0 offsets ${start}-${start + 1}`);
      expect(readdirSync(b.dataDir).some((f) => f.startsWith("wal.damaged-"))).toBe(true);
      expect(await primaryInSync([a, b])).toBe(a);
      await a.kill();
      expect(await primaryOf([b])).toBe(b);
      expect(await keyPositions(b.kafkaPort, "t")).toEqual(acked);
    }, 240_000);

    test("the primary's (its standby in sync): it does not take the lease back with the hole; the standby takes over and it is copied back", async () => {
      const { a, b, acked } = await syncedPair("dmg-primary");
      await a.kill();
      damage(a);
      await a.start(); // at once: the lease still names it
      await until("the primary's note", () => /holds them: this node starts as a standby/.test(a.output()));
      expect(await primaryInSync([a, b], 90_000)).toBe(b);
      expect(await keyPositions(b.kafkaPort, "t")).toEqual(acked);
      await b.kill();
      expect(await primaryOf([a])).toBe(a);
      expect(await keyPositions(a.kafkaPort, "t")).toEqual(acked);
    }, 240_000);
  });

  describe("a WAL damaged while the node runs, S3 not holding the records", () => {
    test("the standby's, and it takes over: the restarted node is streamed the entry from the new primary's memory, not refused and resent forever", async () => {
      const { a, b, acked } = await syncedPair("dmg-running");
      const { start } = damage(b); // b runs on with an intact copy in memory
      await a.kill();
      expect(await primaryOf([b])).toBe(b);
      await a.start();
      expect(await primaryInSync([a, b], 90_000)).toBe(b);
      const notes = b.output().match(/is damaged on this node's disk; streamed to standby node-a from this node's intact copy in memory/g) ?? [];
      expect(notes.length).toBe(1);
      expect(b.output()).toContain(`offsets ${start}-${start + 1}`);
      expect(a.output()).not.toContain("corrupt WAL entry from the primary");
      await b.kill();
      expect(await primaryOf([a])).toBe(a);
      expect(await keyPositions(a.kafkaPort, "t")).toEqual(acked);
    }, 240_000);

    test("the standby's entry length, and it takes over: nothing holds those records, so it says so once and the restarted node waits, connected, instead of reconnecting forever", async () => {
      const { a, b } = await syncedPair("dmg-length");
      const entries = walEntries(b.dataDir);
      const victim = entries[Math.floor(entries.length / 2)]!;
      flip(victim.file, victim.pos); // the entry's length: which records it held is unknown
      await a.kill();
      expect(await primaryOf([b])).toBe(b);
      await a.start();
      const loud = /cannot be brought in sync past it/g;
      await until("the new primary's note", () => /cannot be brought in sync past it/.test(b.output()), 60_000);
      await Bun.sleep(5000); // ten lease retry intervals: a reconnecting standby would have come back several times
      expect(b.output().match(loud)?.length).toBe(1);
      expect(b.output()).toContain(`WAL segment ${victim.segment} at byte ${victim.pos} (its length is damaged`);
      expect(a.output().match(/replication: following node-b/g)?.length).toBe(1);
      expect(a.output()).not.toContain("corrupt WAL entry from the primary");
      expect((await b.replication())?.standby).toMatchObject({ standby: "node-a", inSync: false });
      // Produce goes on, acknowledged by the primary alone.
      expect((await produce(b.kafkaPort, "after", 3)).size).toBe(6);
    }, 240_000);

    test("the standby's, then an incremental session: it sets its WAL aside and is copied back in full, then takes over with every record", async () => {
      const { a, b, acked } = await syncedPair("dmg-session");
      damage(b);
      // The session breaks (the frozen standby misses the ack timeout); it comes back with its token: incremental.
      process.kill(b.proc!.pid, "SIGSTOP");
      await until("the primary detaching the frozen standby", () => /standby node-b detached/.test(a.output()), 30_000);
      process.kill(b.proc!.pid, "SIGCONT");
      await until("the standby's note", () => /asks the primary for a full copy/.test(b.output()), 60_000);
      expect(readdirSync(b.dataDir).some((f) => f.startsWith("wal.damaged-"))).toBe(true);
      expect(await primaryInSync([a, b], 90_000)).toBe(a);
      expect(b.output()).toMatch(/full session from WAL sequence/);
      await a.kill();
      expect(await primaryOf([b])).toBe(b);
      expect(await keyPositions(b.kafkaPort, "t")).toEqual(acked);
    }, 240_000);
  });

  test("a primary with no standby in sync: the start is refused, naming the range and saying the peer does not hold it", async () => {
    const [a] = twoNodes("dmg-alone");
    await a.start();
    await primaryOf([a]);
    await produce(a.kafkaPort, "t", 400);
    await a.kill();
    const { start } = damage(a);
    const err = await a.start().then(() => null, (e: Error) => e);
    expect(err?.message).toContain("WAL corruption");
    expect(err?.message).toContain(`t-0 offsets ${start}-${start + 1}`);
    expect(err?.message).toContain("The S3 tier does not hold them");
    expect(err?.message).toContain("no standby in sync, so the peer does not hold them either");
    expect(existsSync(`${a.dataDir}/wal`)).toBe(true); // nothing set aside
  }, 120_000);
});
