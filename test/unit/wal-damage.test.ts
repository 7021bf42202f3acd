// Telling a torn WAL tail from corruption (src/wal/recovery.ts): only the newest group-commit write can be torn by a
// crash, and it is cut as before; damage anywhere else (later groups after it, an older segment, before a clean
// shutdown's end, a zeroed length in the middle) is corruption, reported with what the damaged entries held, and the
// intact entries after it are still replayed (issue 12 cases 7 and 8 at the WAL's level).
import { afterEach, describe, expect, test } from "bun:test";
import { closeSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Wal, WalEntry } from "../../src/wal/wal.ts";
import { SEGMENT_HEADER, segmentFileName } from "../../src/wal/entry.ts";
import { relink } from "../../src/wal/recovery.ts";
import { crc32c } from "../../src/protocol/crc32c.ts";
import { buildBatch, setBaseOffset } from "../../src/protocol/records.ts";
import { silentLogger } from "../../src/logger.ts";
import { tempDir } from "../helpers/broker.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const TOPIC = Uint8Array.from(Buffer.from("00112233445566778899aabbccddeeff", "hex"));
const enc = new TextEncoder();

function newWal(dir: string, segmentMaxBytes = 64 * 1024) {
  const wal = new Wal<string>({ dir, segmentMaxBytes, syncIntervalMs: 0, maxDiskBytes: 0, cacheBytes: 1 << 20, logger: silentLogger });
  wal.setListener({ durable: () => {}, failed: () => {}, dropping: async () => true });
  return wal;
}

function batch(i: number, size = 100): Uint8Array {
  const b = buildBatch([{ key: enc.encode(`k${i}`), value: new Uint8Array(size).fill(i & 255) }, { key: enc.encode(`k${i}b`), value: new Uint8Array(10) }]);
  setBaseOffset(b, i * 2);
  return b;
}

/** Writes `groups` group-commit writes of `per` entries each (partition = entry number % 3); returns the entries. */
async function fill(dir: string, groups: number, per: number, opts: { close?: boolean; segmentMaxBytes?: number; size?: number } = {}) {
  const wal = newWal(dir, opts.segmentMaxBytes);
  await wal.replay(() => {});
  await wal.start();
  const es: WalEntry<string>[] = [];
  for (let g = 0; g < groups; g++) {
    const waits: Promise<void>[] = [];
    for (let k = 0; k < per; k++) {
      const i = es.length;
      const e = new WalEntry(TOPIC, i % 3, i * 2, batch(i, opts.size), `e${i}`);
      es.push(e);
      waits.push(wal.append(e)); // appended in one turn: one group
    }
    await Promise.all(waits);
  }
  if (opts.close ?? true) await wal.close();
  return { wal, es };
}

function segPath(dir: string, id: number): string {
  return join(dir, segmentFileName(id));
}

function garble(path: string, pos: number, bytes = [0xde, 0xad, 0xbe, 0xef]): void {
  const fd = openSync(path, "r+");
  writeSync(fd, Uint8Array.from(bytes), 0, bytes.length, pos);
  closeSync(fd);
}

async function replay(dir: string) {
  const wal = newWal(dir);
  const seen: number[] = [];
  const stats = await wal.replay((e) => seen.push(e.baseOffset / 2));
  await wal.close();
  return { seen, stats };
}

describe("torn tails (a crash cut the newest write short): cut, as always", () => {
  test("damage inside the newest group, with intact entries of that same group after it", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 3, 5, { close: false }); // a crash: no clean-shutdown mark
    garble(segPath(dir, es[11]!.segment), es[11]!.pos + 60); // entry 11 of the last group 10..14
    const { seen, stats } = await replay(dir);
    expect(seen).toEqual([...Array(11).keys()]);
    expect(stats.damages).toEqual([]);
    expect(stats.truncatedBytes).toBeGreaterThan(0);
  });
});

describe("corruption: reported, and everything intact after it is replayed", () => {
  test("damage in the middle of the current segment, later groups after it (issue 12 case 7): the damaged entries are named", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 10, 4, { segmentMaxBytes: 1 << 20 });
    const victim = es[13]!;
    garble(segPath(dir, victim.segment), victim.pos + 40);
    const { seen, stats } = await replay(dir);
    expect(seen).toEqual([...Array(40).keys()].filter((i) => i !== 13));
    expect(stats.damages.length).toBe(1);
    const d = stats.damages[0]!;
    expect(d.torn).toBe(false);
    expect(d.segment).toBe(victim.segment);
    expect(d.entries).toEqual([expect.objectContaining({ partition: 13 % 3, baseOffset: 26, lastOffset: 27 })]);
  });

  test("damage in the newest group after a clean shutdown is corruption, not a torn tail", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 3, 5);
    garble(segPath(dir, es[14]!.segment), es[14]!.pos + 60);
    const { seen, stats } = await replay(dir);
    expect(seen).toEqual([...Array(14).keys()]);
    expect(stats.truncatedBytes).toBe(0);
    expect(stats.damages.map((d) => d.entries?.map((e) => e.baseOffset))).toEqual([[28]]);
  });

  test("damage in an older segment (issue 12 case 8): that segment's later entries and the newer segments are replayed", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 60, 5, { size: 500 });
    const victim = es[10]!;
    expect(victim.segment).toBeLessThan(es.at(-1)!.segment);
    garble(segPath(dir, victim.segment), victim.pos + 80);
    const { seen, stats } = await replay(dir);
    expect(seen).toEqual([...Array(300).keys()].filter((i) => i !== 10));
    expect(stats.damages.map((d) => [d.segment, d.entries?.map((e) => e.baseOffset)])).toEqual([[victim.segment, [20]]]);
  });

  test("a zeroed length in the middle does not end the segment silently", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 8, 3, { segmentMaxBytes: 1 << 20 });
    const victim = es[5]!;
    garble(segPath(dir, victim.segment), victim.pos - 48, [0, 0, 0, 0]);
    const { seen, stats } = await replay(dir);
    expect(seen).toEqual([...Array(24).keys()].filter((i) => i !== 5));
    expect(stats.damages.length).toBe(1);
    expect(stats.damages[0]!.entries).toBeNull(); // the length itself is gone: what it held is not known from here
  });

  test("a damaged segment header is rewritten and its entries read", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 2, 3);
    garble(segPath(dir, es[0]!.segment), 0, [0x58, 0x58]);
    const { seen, stats } = await replay(dir);
    expect(seen).toEqual([0, 1, 2, 3, 4, 5]);
    expect(stats.damages).toEqual([]);
    expect(readFileSync(segPath(dir, es[0]!.segment)).subarray(0, 8).toString()).toBe("KLITEWAL");
  });

  test("ranges accepted earlier (--accept-data-loss) are passed over", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 6, 3, { segmentMaxBytes: 1 << 20 });
    garble(segPath(dir, es[4]!.segment), es[4]!.pos + 30);
    const first = await replay(dir);
    const d = first.stats.damages[0]!;
    const wal = newWal(dir);
    const seen: number[] = [];
    const stats = await wal.replay((e) => seen.push(e.baseOffset / 2), [{ segment: d.segment, from: d.from, to: d.to }]);
    await wal.close();
    expect(stats.damages).toEqual([]);
    expect(seen).toEqual([...Array(18).keys()].filter((i) => i !== 4));
  });
});

describe("format 1 segments (written before group offsets)", () => {
  test("are replayed, and new entries go to a new format-2 segment", async () => {
    const dir = tempDir();
    dirs.push(dir);
    // A format-1 segment: 44-byte entry headers.
    const seg = new Uint8Array(64 * 1024);
    seg.set(enc.encode("KLITEWAL"));
    new DataView(seg.buffer).setUint32(8, 1);
    let pos = SEGMENT_HEADER;
    for (let i = 0; i < 3; i++) {
      const b = batch(i);
      const dv = new DataView(seg.buffer);
      dv.setUint32(pos, 40 + b.length);
      dv.setUint32(pos + 8, 0);
      dv.setUint32(pos + 12, i);
      seg.set(TOPIC, pos + 16);
      dv.setInt32(pos + 32, 0);
      dv.setUint32(pos + 40, i * 2);
      seg.set(b, pos + 44);
      dv.setUint32(pos + 4, crc32c(seg, pos + 8, pos + 44 + 21));
      pos += 44 + b.length;
    }
    writeFileSync(segPath(dir, 1), seg);
    const wal = newWal(dir);
    const seen: number[] = [];
    await wal.replay((e) => seen.push(e.baseOffset / 2));
    expect(seen).toEqual([0, 1, 2]);
    await wal.start();
    await wal.append(new WalEntry(TOPIC, 0, 6, batch(3), ""));
    await wal.close();
    expect(readdirSync(dir).filter((f) => f.endsWith(".wal")).length).toBeGreaterThanOrEqual(2);
    expect((await replay(dir)).seen).toEqual([0, 1, 2, 3]);
  });
});

describe("missing segment files: each segment's header names the one written before it", () => {
  test("a segment gone from the middle is reported as missing; once accepted (a skip) it is passed over", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 60, 5, { size: 500 });
    const victim = es[150]!.segment;
    expect(victim).toBeGreaterThan(es[0]!.segment);
    expect(victim).toBeLessThan(es.at(-1)!.segment);
    rmSync(segPath(dir, victim));
    const { seen, stats } = await replay(dir);
    expect(seen).toEqual(es.filter((e) => e.segment !== victim).map((e) => e.baseOffset / 2));
    expect(stats.damages).toEqual([expect.objectContaining({ segment: victim, file: segPath(dir, victim), missing: { belowOldest: false, capacity: 64 * 1024 }, entries: null })]);
    const wal = newWal(dir);
    const again = await wal.replay(() => {}, [{ segment: victim, from: 0, to: 0 }]);
    await wal.close();
    expect(again.damages).toEqual([]);
  });

  test("a failed segment preparation leaves a gap in the ids, not a missing segment", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { es } = await fill(dir, 60, 5, { size: 500 });
    // As when preparing the segment after `k` failed once it had taken its id: every later segment one id up, each
    // naming the one really written before it.
    const k = es[100]!.segment;
    const later = readdirSync(dir).filter((f) => f.endsWith(".wal")).map((f) => Number(f.slice(0, 20))).filter((id) => id > k).sort((a, b) => b - a);
    for (const id of later) {
      renameSync(segPath(dir, id), segPath(dir, id + 1));
      const fd = openSync(segPath(dir, id + 1), "r+");
      relink(fd, id === k + 1 ? k : id);
      closeSync(fd);
    }
    const { seen, stats } = await replay(dir);
    expect(stats.damages).toEqual([]);
    expect(seen.length).toBe(es.length);
  });

  test("an empty segment left before data (an entry larger than a segment, first thing) is deleted without breaking the chain", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const wal = newWal(dir);
    await wal.replay(() => {});
    await wal.start();
    await wal.append(new WalEntry(TOPIC, 0, 0, batch(0, 100 * 1024), "big")); // the first segment stays empty
    await wal.close();
    const before = readdirSync(dir).filter((f) => f.endsWith(".wal")).length;
    const first = await replay(dir); // deletes the empty segment the grown one's header names
    expect(first.stats.damages).toEqual([]);
    expect(readdirSync(dir).filter((f) => f.endsWith(".wal")).length).toBe(before - 1);
    const second = await replay(dir);
    expect(second.stats.damages).toEqual([]);
    expect(second.seen).toEqual([0]);
  });
});
