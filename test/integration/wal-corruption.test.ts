// Issue 12 cases 7 and 8 without a second copy (no S3): bytes damaged in the middle of the current WAL segment after
// a clean shutdown, or in an older segment, or in the very last write, are corruption, not a torn tail. The broker
// refuses to start with a message naming the file, the bytes and the records affected; with --accept-data-loss it
// starts, says so loudly, serves everything else, answers reads of the lost offsets with CORRUPT_MESSAGE (never a
// silent skip) and never hands an acknowledged offset out again. (With S3: test/s3/corruption.test.ts.)
import { afterEach, describe, expect, test } from "bun:test";
import { basename } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { flip, walEntries, type StoredEntry } from "../helpers/disk.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { batches, buildBatch, decodeRecords } from "../../src/protocol/records.ts";
import type { Config } from "../../src/config.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function broker(overrides: Partial<Config>): Promise<TestBroker> {
  const b = await startBroker(overrides);
  cleanup.push(() => b.stop());
  return b;
}

/** Creates the topic and produces `n` batches of 3 records round-robin over its partitions; returns what was acked. */
async function fill(b: TestBroker, topic: string, partitions: number, n: number, value = "x".repeat(200)): Promise<Map<string, { p: number; o: number }>> {
  const c = await RawClient.connect(b.port);
  const cr = await c.request(19, 7, { topics: [{ name: topic, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
  expect(cr.topics[0].errorCode).toBe(0);
  const acked = new Map<string, { p: number; o: number }>();
  for (let i = 0; i < n; i++) {
    const p = i % partitions;
    const keys = [0, 1, 2].map((k) => `${topic}-${i}-${k}`);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: p, records: buildBatch(keys.map((k) => ({ key: enc.encode(k), value: enc.encode(value) }))) }] }] });
    const pr = r.responses[0].partitionResponses[0];
    expect(pr.errorCode).toBe(0);
    keys.forEach((k, j) => acked.set(k, { p, o: Number(pr.baseOffset) + j }));
  }
  c.close();
  return acked;
}

interface Fetched {
  errorCode: number;
  hw: number;
  keys: { key: string; offset: number }[];
}

async function fetchAt(c: RawClient, topic: string, partition: number, offset: number): Promise<Fetched> {
  const f = await c.request(1, 12, {
    replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition, fetchOffset: BigInt(offset), partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "",
  });
  const pd = f.responses[0].partitions[0];
  const keys: { key: string; offset: number }[] = [];
  for (const b of batches(pd.records as Uint8Array)) {
    for (const r of decodeRecords((pd.records as Uint8Array).subarray(b.pos, b.pos + b.size))) keys.push({ key: dec.decode(r.key!), offset: r.offset });
  }
  return { errorCode: pd.errorCode, hw: Number(pd.highWatermark), keys };
}

/** Reads a partition from 0 as a consumer would, seeking past each lost range it is told about; returns what it saw. */
async function consume(port: number, topic: string, partition: number, lost: { start: number; end: number }[]) {
  const c = await RawClient.connect(port);
  const seen: { key: string; offset: number }[] = [];
  const errors: number[] = [];
  let offset = 0;
  for (let guard = 0; guard < 10_000; guard++) {
    const f = await fetchAt(c, topic, partition, offset);
    if (f.errorCode === ErrorCode.CORRUPT_MESSAGE) {
      errors.push(offset);
      const range = lost.find((r) => r.start <= offset && offset <= r.end);
      if (!range) throw new Error(`CORRUPT_MESSAGE at ${offset}, outside every lost range`);
      offset = range.end + 1; // what an application does after the error: seek past it
      continue;
    }
    expect(f.errorCode).toBe(0);
    if (f.keys.length === 0) break;
    for (const k of f.keys) if (k.offset >= offset) seen.push(k);
    offset = f.keys.at(-1)!.offset + 1;
    if (offset >= f.hw) break;
  }
  c.close();
  return { seen, errors };
}

function victimOf(entries: StoredEntry[], pick: (es: StoredEntry[]) => StoredEntry): { e: StoredEntry; start: number; end: number } {
  const e = pick(entries);
  return { e, start: e.baseOffset, end: e.baseOffset + 2 };
}

describe("WAL corruption without a second copy", () => {
  test("4 flipped bytes in the middle of the current segment after a clean shutdown (case 7): refused, then --accept-data-loss", async () => {
    let b = await broker({});
    const acked = await fill(b, "c7", 2, 1000);
    const dataDir = b.dataDir;
    cleanup.push(() => b.cleanup());
    await b.stop();
    const entries = walEntries(dataDir);
    const { e, start, end } = victimOf(entries, (es) => es[Math.floor(es.length / 2)]!);
    const partition = e.partition;
    flip(e.file, e.batchPos + 100);

    // Refused, naming the file, the bytes and the records.
    const err = await startBroker({ dataDir }).then(() => null, (x: Error) => x);
    expect(err).not.toBeNull();
    expect(err!.name).toBe("DataLossError");
    expect(err!.message).toContain(basename(e.file));
    expect(err!.message).toContain(`bytes ${e.pos}-`);
    expect(err!.message).toContain(`c7-${partition} offsets ${start}-${end}`);
    expect(err!.message).toContain("--accept-data-loss");
    expect(err!.message).toContain("No second copy");

    // Started anyway: everything else is served, the lost range is an error, offsets continue after the old end.
    b = await broker({ dataDir, acceptDataLoss: true });
    const lost = [{ start, end }];
    const { seen, errors } = await consume(b.port, "c7", partition, lost);
    expect(errors).toEqual([start]);
    const want = [...acked].filter(([, w]) => w.p === partition && (w.o < start || w.o > end)).map(([k, w]) => ({ key: k, offset: w.o }));
    expect(seen).toEqual(want.sort((x, y) => x.offset - y.offset));
    const other = await consume(b.port, "c7", 1 - partition, []);
    expect(other.seen.length).toBe(1500);
    await b.stop();

    // The acceptance is durable: the next start needs no flag, and the range stays lost.
    b = await broker({ dataDir });
    expect((await consume(b.port, "c7", partition, lost)).errors).toEqual([start]);
  }, 60_000);

  test("damage in the very last write before a clean shutdown: refused; accepted, its offsets are never handed out again", async () => {
    let b = await broker({});
    const acked = await fill(b, "tail", 1, 50);
    const dataDir = b.dataDir;
    cleanup.push(() => b.cleanup());
    await b.stop();
    const { e, start, end } = victimOf(walEntries(dataDir), (es) => es.at(-1)!);
    expect(end).toBe(149);
    flip(e.file, e.batchPos + 70);
    await expect(startBroker({ dataDir })).rejects.toThrow(/tail-0 offsets 147-149/);
    b = await broker({ dataDir, acceptDataLoss: true });
    const c = await RawClient.connect(b.port);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "tail", partitionData: [{ index: 0, records: buildBatch([{ key: enc.encode("new"), value: enc.encode("v") }]) }] }] });
    expect(r.responses[0].partitionResponses[0].baseOffset).toBe(150n); // not 147: those were acknowledged once
    expect((await fetchAt(c, "tail", 0, 147)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    const before = await fetchAt(c, "tail", 0, 140);
    expect(before.keys.at(-1)!.offset).toBe(146); // stops at the lost range, does not step over it
    expect(before.keys.filter((k) => k.offset >= 140).length).toBe(7);
    c.close();
    void acked;
  }, 60_000);

  test("4 flipped bytes in an older segment (case 8): refused; accepted, consumers reading across the hole get an error, not a skip", async () => {
    let b = await broker({ walSegmentMaxBytes: 64 * 1024 });
    const acked = await fill(b, "c8", 1, 1200);
    const dataDir = b.dataDir;
    cleanup.push(() => b.cleanup());
    await b.stop();
    const entries = walEntries(dataDir);
    const first = entries[0]!.segment;
    expect(entries.at(-1)!.segment).toBeGreaterThan(first + 2);
    const { e, start, end } = victimOf(entries, (es) => es.filter((x) => x.segment === first + 1)[5]!);
    flip(e.file, e.batchPos + 90);
    const err = await startBroker({ dataDir, walSegmentMaxBytes: 64 * 1024 }).then(() => null, (x: Error) => x);
    expect(err?.message).toContain(`c8-0 offsets ${start}-${end}`);
    expect(err?.message).toContain(basename(e.file));
    b = await broker({ dataDir, walSegmentMaxBytes: 64 * 1024, acceptDataLoss: true });
    const { seen, errors } = await consume(b.port, "c8", 0, [{ start, end }]);
    expect(errors).toEqual([start]);
    expect(seen.length).toBe(acked.size - 3);
    expect(seen.every((k) => acked.get(k.key)!.o === k.offset)).toBe(true);
  }, 60_000);

  test("a torn tail after a crash is still cut without any flag", async () => {
    let b = await broker({});
    await fill(b, "torn", 1, 20);
    const dataDir = b.dataDir;
    cleanup.push(() => b.cleanup());
    await b.stop();
    const { rmSync } = await import("node:fs");
    rmSync(`${dataDir}/wal/closed`); // as a crash leaves it: no clean-shutdown mark
    const { e } = victimOf(walEntries(dataDir), (es) => es.at(-1)!);
    flip(e.file, e.batchPos + 70);
    b = await broker({ dataDir });
    const c = await RawClient.connect(b.port);
    expect((await fetchAt(c, "torn", 0, 0)).hw).toBe(57);
    c.close();
  }, 60_000);
});
