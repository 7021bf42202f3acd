// Bounded work per request and bounded memory per connection (issue 12, cases 3-6): small requests that used to
// make the broker build gigabytes, clients that never read their responses, and requests listing one partition many
// times. The broker runs as its own process with --memory-limit 1GiB (reads share 256 MiB, 64 MiB per connection,
// chunk pool 256 MiB), and its RSS is sampled from /proc: the budget each case must stay within is stated there.
// Other clients must be answered meanwhile, within a stated time.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { spawnBroker, waitFor, type SpawnedBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { rssOf } from "../helpers/cgroup.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { buildBatch } from "../../src/protocol/records.ts";

const MiB = 1024 * 1024;
const ZERO_ID = "00000000000000000000000000000000";

/** Peak RSS of pid while fn runs (sampled every 50 ms), and fn's result. */
async function peakDuring<T>(pid: number, fn: () => Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = rssOf(pid)?.now ?? 0;
  const t = setInterval(() => (peak = Math.max(peak, rssOf(pid)?.now ?? 0)), 50);
  try {
    const result = await fn();
    peak = Math.max(peak, rssOf(pid)?.now ?? 0);
    return { peak, result };
  } finally {
    clearInterval(t);
  }
}

/** A client that sends requests and never reads a byte of the answers. */
async function silentClient(port: number): Promise<{ send(frame: Uint8Array): void; close(): void }> {
  const socket: Socket<undefined> = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, error() {} } });
  socket.pause();
  return {
    send(frame) {
      let o = 0;
      while (o < frame.length) {
        const n = socket.write(frame.subarray(o));
        if (n <= 0) break;
        o += n;
      }
    },
    close: () => socket.terminate(),
  };
}

function fetchRequest(topic: string, partitions: { partition: number; offset: number; max: number }[], maxBytes: number) {
  return {
    replicaId: -1, maxWaitMs: 100, minBytes: 1, maxBytes, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: partitions.map((p) => ({ partition: p.partition, fetchOffset: BigInt(p.offset), partitionMaxBytes: p.max, currentLeaderEpoch: -1, logStartOffset: -1n })) }],
    forgottenTopicsData: [], rackId: "",
  };
}

/** A well-behaved client gets an answer within `ms` (a Metadata round trip). */
async function answeredWithin(c: RawClient, ms: number): Promise<void> {
  const t0 = performance.now();
  const r = await c.request(3, 12, { topics: [{ name: "big", topicId: ZERO_ID }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false }, ms);
  expect(r).not.toBeNull();
  expect(performance.now() - t0).toBeLessThan(ms);
}

let b: SpawnedBroker;
let healthy: RawClient;
const BIG = 80 * MiB;
let BATCH_BYTES = 0;

beforeAll(async () => {
  b = await spawnBroker({ args: ["--memory-limit", "1GiB", "--auto-create-topics", "false"] });
  healthy = await RawClient.connect(b.port);
  for (const [name, numPartitions] of [["big", 1], ["wide", 10_000]] as const) {
    const r = await healthy.request(19, 7, { topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 30_000 });
    expect(r.topics[0].errorCode).toBe(0);
  }
  // ~80 MiB in "big"-0: 80 batches just under 1 MiB (8 records of 127 KiB; max.message.bytes is 1 MiB).
  const value = new Uint8Array(127 * 1024).fill(7);
  for (let i = 0; i < BIG / MiB; i++) {
    const batch = buildBatch(Array.from({ length: 8 }, () => ({ key: null, value })));
    BATCH_BYTES = batch.length;
    const p = await healthy.request(0, 9, { transactionalId: null, acks: 1, timeoutMs: 5000, topicData: [{ name: "big", partitionData: [{ index: 0, records: batch }] }] });
    expect(p.responses[0].partitionResponses[0].errorCode).toBe(0);
  }
}, 120_000);

afterAll(async () => {
  healthy?.close();
  b?.kill("SIGKILL");
  await b?.exited;
});

describe("bounded work per request", () => {
  test("case 3: one topic of 10,000 partitions listed 400 times in Metadata is described once (RSS +64 MiB at most)", async () => {
    const c = await RawClient.connect(b.port);
    const before = rssOf(b.pid)!.now;
    const { peak, result } = await peakDuring(b.pid, () => c.request(3, 12, { topics: Array.from({ length: 400 }, () => ({ name: "wide", topicId: ZERO_ID })), allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false }, 30_000));
    expect(result.topics.length).toBe(1);
    expect(result.topics[0].partitions.length).toBe(10_000);
    expect(peak - before).toBeLessThan(64 * MiB);
    c.close();
  });

  test("case 5: a Fetch asking for 2 GiB gets at most --fetch-max-bytes (55 MiB) plus one batch; others are answered within 3 s", async () => {
    const c = await RawClient.connect(b.port);
    const before = rssOf(b.pid)!.now;
    const { peak, result } = await peakDuring(b.pid, async () => {
      const big = c.request(1, 12, fetchRequest("big", [{ partition: 0, offset: 0, max: 0x7fffffff }], 0x7fffffff), 60_000);
      await answeredWithin(healthy, 3000);
      return big;
    });
    const records = result.responses[0].partitions[0].records as Uint8Array;
    expect(records.length).toBeGreaterThan(50 * MiB);
    expect(records.length).toBeLessThanOrEqual(55 * MiB);
    expect(peak - before).toBeLessThan(256 * MiB);
    c.close();
  });

  test("case 5: one partition listed 100 times in one Fetch is read once, answered once", async () => {
    const c = await RawClient.connect(b.port);
    const before = rssOf(b.pid)!.now;
    const parts = Array.from({ length: 100 }, (_, i) => ({ partition: 0, offset: i === 99 ? 40 * 8 : 0, max: 20 * MiB }));
    const { peak, result } = await peakDuring(b.pid, async () => {
      const r = c.request(1, 12, fetchRequest("big", parts, 0x7fffffff), 60_000);
      await answeredWithin(healthy, 3000);
      return r;
    });
    expect(result.responses.length).toBe(1);
    expect(result.responses[0].partitions.length).toBe(1);
    // As many batches as 20 MiB holds, from offset 320 (the last listing's).
    const records = result.responses[0].partitions[0].records as Uint8Array;
    expect(records.length).toBe(Math.floor((20 * MiB) / BATCH_BYTES) * BATCH_BYTES);
    expect(new DataView(records.buffer, records.byteOffset).getUint32(4)).toBe(320);
    expect(peak - before).toBeLessThan(160 * MiB);
    c.close();
  });

  test("case 6: CreateTopics with 100,000 partitions is refused with POLICY_VIOLATION (four times); nothing is created", async () => {
    const c = await RawClient.connect(b.port);
    const before = rssOf(b.pid)!.now;
    const { peak } = await peakDuring(b.pid, async () => {
      for (let i = 0; i < 4; i++) {
        const r = await c.request(19, 7, { topics: [{ name: `huge${i}`, numPartitions: 100_000, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
        expect(r.topics[0].errorCode).toBe(ErrorCode.POLICY_VIOLATION);
        expect(r.topics[0].errorMessage).toContain("--max-partitions-per-request");
      }
      const two = await c.request(19, 7, { topics: [{ name: "half1", numPartitions: 6000, replicationFactor: 1, assignments: [], configs: [] }, { name: "half2", numPartitions: 6000, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
      expect(two.topics.map((t: { errorCode: number }) => t.errorCode)).toEqual([ErrorCode.POLICY_VIOLATION, ErrorCode.POLICY_VIOLATION]);
      const grow = await c.request(37, 3, { topics: [{ name: "wide", count: 30_000, assignments: null }], timeoutMs: 5000, validateOnly: false });
      expect(grow.results[0].errorCode).toBe(ErrorCode.POLICY_VIOLATION);
    });
    const md = await c.request(3, 12, { topics: [0, 1, 2, 3].map((i) => ({ name: `huge${i}`, topicId: ZERO_ID })).concat([{ name: "half1", topicId: ZERO_ID }]), allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    for (const t of md.topics) expect(t.errorCode).toBe(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
    expect(peak - before).toBeLessThan(32 * MiB);
    c.close();
  });

  test("duplicates: ListOffsets answers INVALID_REQUEST for a partition listed twice; Produce appends it once; OffsetCommit answers each", async () => {
    const c = await RawClient.connect(b.port);
    const lo = await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: "wide", partitions: [{ partitionIndex: 1, timestamp: -1n }, { partitionIndex: 2, timestamp: -1n }] }, { name: "wide", partitions: [{ partitionIndex: 1, timestamp: -2n }] }] });
    expect(lo.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([ErrorCode.INVALID_REQUEST, 0]);
    expect(lo.topics[1].partitions[0].errorCode).toBe(ErrorCode.INVALID_REQUEST);

    const enc = new TextEncoder();
    const one = buildBatch([{ key: null, value: enc.encode("first") }]);
    const two = buildBatch([{ key: null, value: enc.encode("second") }, { key: null, value: enc.encode("third") }]);
    const pr = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "wide", partitionData: [{ index: 5, records: one }] }, { name: "wide", partitionData: [{ index: 5, records: two }, { index: 6, records: one }] }] });
    expect(pr.responses.length).toBe(1);
    expect(pr.responses[0].partitionResponses.map((p: { index: number; errorCode: number }) => [p.index, p.errorCode])).toEqual([[5, 0], [6, 0]]);
    const hw = await c.request(2, 7, { replicaId: -1, isolationLevel: 0, topics: [{ name: "wide", partitions: [{ partitionIndex: 5, timestamp: -1n }] }] });
    expect(hw.topics[0].partitions[0].offset).toBe(2n); // only the last batch given for wide-5 (two records)

    const oc = await c.request(8, 8, { groupId: "dups", generationIdOrMemberEpoch: -1, memberId: "", groupInstanceId: null, topics: [{ name: "wide", partitions: [{ partitionIndex: 5, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: "" }, { partitionIndex: 5, committedOffset: 2n, committedLeaderEpoch: -1, committedMetadata: "" }] }] });
    expect(oc.topics[0].partitions.map((p: { errorCode: number }) => p.errorCode)).toEqual([0, 0]);
    const of = await c.request(9, 8, { groups: [{ groupId: "dups", topics: [{ name: "wide", partitionIndexes: [5] }] }], requireStable: false });
    expect(of.groups[0].topics[0].partitions[0].committedOffset).toBe(2n); // the last one, as Kafka applies them in order
    c.close();
  });
});

describe("memory per connection and in total", () => {
  test("case 4: 120 pipelined Fetches of 20 MB that are never read hold at most the connection's share (RSS +160 MiB at most)", async () => {
    const before = rssOf(b.pid)!.now;
    const bad = await silentClient(b.port);
    const { peak } = await peakDuring(b.pid, async () => {
      for (let i = 0; i < 120; i++) bad.send(RawClient.frame(1, 12, fetchRequest("big", [{ partition: 0, offset: (i % 60) * 8, max: 20 * MiB }], 50 * MiB), i + 1));
      await Bun.sleep(3000);
      await answeredWithin(healthy, 3000);
    });
    expect(peak - before).toBeLessThan(160 * MiB);
    bad.close();
  }, 30_000);

  test("six clients that stop reading stay within the reads share, and a reading consumer still gets its data within 3 s", async () => {
    const before = rssOf(b.pid)!.now;
    const bad = await Promise.all(Array.from({ length: 6 }, () => silentClient(b.port)));
    const { peak } = await peakDuring(b.pid, async () => {
      bad.forEach((c, k) => {
        for (let i = 0; i < 40; i++) c.send(RawClient.frame(1, 12, fetchRequest("big", [{ partition: 0, offset: ((i + k) % 70) * 8, max: 10 * MiB }], 50 * MiB), i + 1));
      });
      await Bun.sleep(3000);
      const t0 = performance.now();
      const r = await healthy.request(1, 12, fetchRequest("big", [{ partition: 0, offset: 8, max: 4 * MiB }], 4 * MiB), 3000);
      expect(performance.now() - t0).toBeLessThan(3000);
      expect((r.responses[0].partitions[0].records as Uint8Array).length).toBeGreaterThanOrEqual(MiB);
    });
    // Six connections could ask for 6 x 64 MiB; the reads share is 256 MiB, of which they get less than 7/8.
    expect(peak - before).toBeLessThan(300 * MiB);
    for (const c of bad) c.close();
  }, 30_000);
});

describe("connection caps", () => {
  let capped: SpawnedBroker;
  beforeAll(async () => {
    capped = await spawnBroker({ args: ["--max-connections", "4", "--max-connections-per-ip", "3"] });
  });
  afterAll(async () => {
    capped.kill("SIGKILL");
    await capped.exited;
  });

  test("--max-connections-per-ip and --max-connections close new connections at once, with a log line", async () => {
    const open = await Promise.all([0, 1, 2].map(() => RawClient.connect(capped.port)));
    for (const c of open) expect((await c.request(18, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" }))?.errorCode).toBe(0);
    // The fourth is closed at once: either the connect already fails (reset) or the socket closes right after.
    const fourth = await RawClient.connect(capped.port).catch(() => null);
    if (fourth) expect(await Promise.race([fourth.closed.then(() => "closed"), Bun.sleep(5000).then(() => "open")])).toBe("closed");
    await waitFor(() => capped.output().includes("refusing connection from 127.0.0.1: 127.0.0.1 already has --max-connections-per-ip 3 connections"), "the per-IP log line");
    // The three admitted connections are unaffected; one closing makes room again.
    for (const c of open) expect((await c.request(18, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" }))?.errorCode).toBe(0);
    open[0]!.close();
    await Bun.sleep(200);
    const again = await RawClient.connect(capped.port);
    expect((await again.request(18, 3, { clientSoftwareName: "t", clientSoftwareVersion: "1" }))?.errorCode).toBe(0);
    for (const c of [...open.slice(1), again]) c.close();
  });
});

describe("--max-partitions", () => {
  test("holds over restarts: topics past it are refused with POLICY_VIOLATION, auto-created ones too", async () => {
    const { startBroker } = await import("../helpers/broker.ts");
    let tb = await startBroker({ maxPartitions: 20 });
    try {
      let c = await RawClient.connect(tb.port);
      const create = async (name: string, numPartitions: number) => (await c.request(19, 7, { topics: [{ name, numPartitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 })).topics[0];
      expect((await create("fifteen", 15)).errorCode).toBe(0);
      const refused = await create("ten", 10);
      expect(refused.errorCode).toBe(ErrorCode.POLICY_VIOLATION);
      expect(refused.errorMessage).toContain("--max-partitions 20");
      c.close();
      tb = await tb.restart();
      c = await RawClient.connect(tb.port);
      expect((await create("ten", 10)).errorCode).toBe(ErrorCode.POLICY_VIOLATION);
      expect((await create("five", 5)).errorCode).toBe(0);
      const md = await c.request(3, 12, { topics: [{ name: "auto", topicId: ZERO_ID }], allowAutoTopicCreation: true, includeTopicAuthorizedOperations: false });
      expect(md.topics[0].errorCode).toBe(ErrorCode.POLICY_VIOLATION);
      c.close();
    } finally {
      await tb.stop();
      tb.cleanup();
    }
  });
});
