// Issue 12 cases 7 and 8 without a second copy (no S3): bytes damaged in the middle of the current WAL segment after
// a clean shutdown, or in an older segment, or in the very last write, are corruption, not a torn tail. The broker
// refuses to start with a message naming the file, the bytes and the records affected; with --accept-data-loss it
// starts, says so loudly, serves everything else, answers reads of the lost offsets with CORRUPT_MESSAGE (never a
// silent skip) and never hands an acknowledged offset out again. (With S3: test/s3/corruption.test.ts.)
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
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
async function consume(port: number, topic: string, partition: number, lost: { start: number; end: number }[], from = 0) {
  const c = await RawClient.connect(port);
  const seen: { key: string; offset: number }[] = [];
  const errors: number[] = [];
  let offset = from;
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

// A segment file deleted from the data dir between runs: each segment's header names the one written before it and
// the clean-shutdown mark names the last, so a missing one is found like any other damage to acknowledged data.
describe("a missing WAL segment file without a second copy", () => {
  const SMALL = { walSegmentMaxBytes: 64 * 1024 };

  /** 1200 batches of 3 records into one partition over a dozen 64 KiB segments, stopped cleanly. */
  async function filled(topic: string) {
    const b = await broker(SMALL);
    const acked = await fill(b, topic, 1, 1200);
    cleanup.push(() => b.cleanup());
    await b.stop();
    const entries = walEntries(b.dataDir);
    const segments = [...new Set(entries.map((e) => e.segment))];
    expect(segments.length).toBeGreaterThan(5);
    /** The offsets a segment's entries held. */
    const held = (segment: number) => {
      const es = entries.filter((e) => e.segment === segment);
      return { file: es[0]!.file, start: es[0]!.baseOffset, end: es.at(-1)!.baseOffset + 2 };
    };
    return { dataDir: b.dataDir, acked, segments, held };
  }

  test("one from the middle: refused naming the file and the offsets; --accept-data-loss marks them lost, never handed out again", async () => {
    const { dataDir, acked, segments, held } = await filled("gone");
    const { file, start, end } = held(segments[2]!);
    rmSync(file);
    const err = await startBroker({ dataDir, ...SMALL }).then(() => null, (x: Error) => x);
    expect(err?.name).toBe("DataLossError");
    expect(err?.message).toContain(`${basename(file)} is missing`);
    expect(err?.message).toContain(`gone-0 offsets ${start}-${end}`);
    expect(err?.message).toContain("No second copy");
    expect(err?.message).toContain("--accept-data-loss");

    let b = await broker({ dataDir, ...SMALL, acceptDataLoss: true });
    const { seen, errors } = await consume(b.port, "gone", 0, [{ start, end }]);
    expect(errors).toEqual([start]); // reading across the hole is an error, not a skip
    expect(seen).toEqual([...acked].filter(([, w]) => w.o < start || w.o > end).map(([k, w]) => ({ key: k, offset: w.o })));
    const c = await RawClient.connect(b.port);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "gone", partitionData: [{ index: 0, records: buildBatch([{ key: enc.encode("new"), value: enc.encode("v") }]) }] }] });
    expect(r.responses[0].partitionResponses[0].baseOffset).toBe(3600n);
    c.close();
    await b.stop();
    // Accepted for good: the next start needs no flag, and the range stays lost.
    b = await broker({ dataDir, ...SMALL });
    expect((await consume(b.port, "gone", 0, [{ start, end }])).errors).toEqual([start]);
  }, 90_000);

  test("the newest, after a clean shutdown and after a crash: refused, from the partition's last intact offset on", async () => {
    const { dataDir, segments, held } = await filled("newest");
    const { file, start } = held(segments.at(-1)!);
    const copy = readFileSync(file);
    rmSync(file);
    const named = `newest-0 offsets from ${start} on`;
    await expect(startBroker({ dataDir, ...SMALL })).rejects.toThrow(named); // the clean-shutdown mark names it
    writeFileSync(file, copy);
    rmSync(join(dataDir, "wal", "closed")); // as a crash leaves it: the prepared next segment names it
    rmSync(file);
    const err = await startBroker({ dataDir, ...SMALL }).then(() => null, (x: Error) => x);
    expect(err?.message).toContain(`${basename(file)} is missing`);
    expect(err?.message).toContain(named);
    const b = await broker({ dataDir, ...SMALL, acceptDataLoss: true });
    const c = await RawClient.connect(b.port);
    expect((await fetchAt(c, "newest", 0, start)).errorCode).toBe(ErrorCode.CORRUPT_MESSAGE);
    const before = await fetchAt(c, "newest", 0, start - 3);
    expect(before.keys.map((k) => k.offset)).toEqual([start - 3, start - 2, start - 1]);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "newest", partitionData: [{ index: 0, records: buildBatch([{ key: enc.encode("new"), value: enc.encode("v") }]) }] }] });
    expect(Number(r.responses[0].partitionResponses[0].baseOffset)).toBeGreaterThanOrEqual(3600); // never an acknowledged offset again
    c.close();
  }, 90_000);

  test("the oldest, with nothing that deletes segments (no S3, no --wal-max-disk-size): refused", async () => {
    const { dataDir, segments, held } = await filled("oldest");
    const { file, end } = held(segments[0]!);
    rmSync(file);
    const err = await startBroker({ dataDir, ...SMALL }).then(() => null, (x: Error) => x);
    expect(err?.message).toContain(`${basename(file)} is missing`);
    expect(err?.message).toContain(`oldest-0 offsets 0-${end}`);
  }, 90_000);

  test("segments --wal-max-disk-size dropped are not taken for missing ones", async () => {
    const limits = { ...SMALL, walMaxDiskSize: 320 * 1024 };
    let b = await broker(limits);
    const acked = await fill(b, "dropped", 1, 1200);
    cleanup.push(() => b.cleanup());
    await b.stop();
    const logStart = walEntries(b.dataDir)[0]!.baseOffset;
    expect(logStart).toBeGreaterThan(0); // the oldest went
    b = await broker({ dataDir: b.dataDir, ...limits });
    const { seen, errors } = await consume(b.port, "dropped", 0, [], logStart);
    expect(errors).toEqual([]);
    expect(seen[0]!.offset).toBe(logStart);
    expect(seen.every((k) => acked.get(k.key)!.o === k.offset)).toBe(true);
    expect(seen.at(-1)!.offset).toBe(3599);
  }, 90_000);
});
