// A full disk, made real with a small tmpfs as the data dir: produce fails with KAFKA_STORAGE_ERROR, nothing
// acknowledged is lost, other connections keep being served, and the broker recovers when space returns.
// Needs root to mount the tmpfs; without it the test is reported and skipped (a failure under CI=true).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { readTopic } from "../helpers/read-topic.ts";
import { describeWithPeer, run, type PeerResult } from "../helpers/peers.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";

const mountPoint = mkdtempSync(join(tmpdir(), "klite-tmpfs-"));
const tmpfs: PeerResult = await run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", mountPoint], { timeoutMs: 10_000 }).then(
  (): PeerResult => ({ ok: true, path: mountPoint }),
  (e: Error): PeerResult => ({ ok: false, reason: `cannot mount a tmpfs (root needed): ${e.message}` }),
);

afterAll(async () => {
  if (tmpfs.ok) await run(["umount", "-l", mountPoint]).catch(() => {});
  rmSync(mountPoint, { recursive: true, force: true });
});

const enc = new TextEncoder();
const dec = new TextDecoder();

describeWithPeer("a full disk (12 MiB tmpfs)", tmpfs, () => {
  let b: TestBroker;
  let c: RawClient;
  const filler = join(mountPoint, "filler");

  beforeAll(async () => {
    b = await startBroker({ dataDir: join(mountPoint, "data"), walSegmentMaxBytes: 1024 * 1024 });
    c = await RawClient.connect(b.port);
    const r = await c.request(19, 7, { topics: [{ name: "full", numPartitions: 2, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
    expect(r.topics[0].errorCode).toBe(0);
  });

  afterAll(async () => {
    c?.close();
    await b?.stop();
  });

  const produce = async (i: number) => {
    const batch = buildBatch([{ key: enc.encode(`k${i}`), value: new Uint8Array(60 * 1024).fill(i & 255) }]);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "full", partitionData: [{ index: i % 2, records: batch }] }] });
    return r.responses[0].partitionResponses[0] as { errorCode: number; baseOffset: bigint; errorMessage: string | null };
  };

  test("fills up, refuses with KAFKA_STORAGE_ERROR, keeps what it acknowledged, and recovers", async () => {
    // Leave about 4 MiB: room for a few segments' worth of records, then nothing.
    const free = Number((await run(["df", "-B1", "--output=avail", mountPoint])).trim().split("\n")[1]);
    writeFileSync(filler, new Uint8Array(Math.max(0, free - 4 * 1024 * 1024)));

    const acked = new Map<string, { partition: number; offset: bigint }>();
    let refusal: { errorCode: number; errorMessage: string | null } | null = null;
    let i = 0;
    for (; i < 400 && !refusal; i++) {
      const r = await produce(i);
      if (r.errorCode === 0) acked.set(`k${i}`, { partition: i % 2, offset: r.baseOffset });
      else refusal = r;
    }
    expect(refusal?.errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);
    expect(refusal?.errorMessage).toMatch(/ENOSPC|no space/i);
    expect(acked.size).toBeGreaterThan(10);

    // Other connections are still served while the disk is full.
    const other = await RawClient.connect(b.port);
    const md = await other.request(3, 12, { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false });
    expect(md.topics.map((t: { name: string }) => t.name)).toContain("full");
    other.close();
    expect((await produce(i++)).errorCode).toBe(ErrorCode.KAFKA_STORAGE_ERROR);

    // Space returns: produce works again, at the offsets right after the acknowledged ones.
    unlinkSync(filler);
    let ok = null;
    for (let tries = 0; tries < 20 && !ok; tries++) {
      const r = await produce(i);
      if (r.errorCode === 0) ok = r;
      else await Bun.sleep(100);
    }
    expect(ok).not.toBeNull();
    acked.set(`k${i}`, { partition: i % 2, offset: ok!.baseOffset });
    const partitionAcks = [...acked.values()].filter((a) => a.partition === i % 2).length;
    expect(ok!.baseOffset).toBe(BigInt(partitionAcks - 1));

    // After a restart every acknowledged record is there, where it was acknowledged, and nothing else.
    c.close();
    b = await b.restart();
    c = await RawClient.connect(b.port);
    const parts = await readTopic(b.port, "full");
    const found = new Map<string, { partition: number; offset: bigint }>();
    for (const [partition, recs] of parts) for (const r of recs) found.set(dec.decode(r.key!), { partition, offset: BigInt(r.offset) });
    expect(found).toEqual(acked);
  }, 120_000);
});
