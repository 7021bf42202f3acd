import { afterEach, describe, expect, test } from "bun:test";
import { openSync, readdirSync, rmSync, statSync, writeSync, closeSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Wal, WalEntry } from "../../src/wal/wal.ts";
import { SEGMENT_HEADER, ENTRY_HEADER } from "../../src/wal/entry.ts";
import { buildBatch, batchBaseOffset, decodeRecords, setBaseOffset } from "../../src/protocol/records.ts";
import { silentLogger } from "../../src/logger.ts";
import { tempDir } from "../helpers/broker.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const TOPIC = Uint8Array.from(Buffer.from("00112233445566778899aabbccddeeff", "hex"));
const enc = new TextEncoder();

function newWal(dir: string, opts: Partial<ConstructorParameters<typeof Wal>[0]> = {}) {
  return new Wal<string>({ dir, segmentMaxBytes: 64 * 1024, syncIntervalMs: 0, maxDiskBytes: 0, cacheBytes: 1 << 20, logger: silentLogger, ...opts });
}

function batch(i: number, size = 100): Uint8Array {
  const b = buildBatch([{ key: enc.encode(`k${i}`), value: new Uint8Array(size).fill(i & 255) }]);
  setBaseOffset(b, i);
  return b;
}

async function collect(dir: string, opts: Partial<ConstructorParameters<typeof Wal>[0]> = {}) {
  const wal = newWal(dir, opts);
  const seen: { seq: number; partition: number; baseOffset: number; batch: Uint8Array; segment: number }[] = [];
  const stats = await wal.replay((e) => seen.push({ ...e, batch: e.batch.slice() }));
  return { wal, seen, stats };
}

describe("WAL", () => {
  test("appends become durable in order, are readable from cache and from disk, and replay identically", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const wal = newWal(dir);
    const durable: string[] = [];
    wal.setListener({ durable: (es) => durable.push(...es.map((e) => e.meta)), failed: () => {}, dropping: async () => true });
    await wal.replay(() => {});
    await wal.start();
    const entries: WalEntry<string>[] = [];
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      const e = new WalEntry(TOPIC, i % 3, i, batch(i), `m${i}`);
      entries.push(e);
      waits.push(wal.append(e));
    }
    await Promise.all(waits);
    expect(durable).toEqual(entries.map((e) => e.meta));
    for (const e of entries) {
      const cached = wal.read(e.segment, e.pos, e.batch.length, e.chunk);
      const fromDisk = wal.read(e.segment, e.pos, e.batch.length, -1);
      expect(fromDisk).toEqual(cached);
      expect(batchBaseOffset(fromDisk)).toBe(e.baseOffset);
    }
    await wal.close();

    const { seen, stats, wal: w2 } = await collect(dir);
    expect(stats.entries).toBe(50);
    expect(stats.truncatedBytes).toBe(0);
    expect(seen.map((e) => e.baseOffset)).toEqual(entries.map((e) => e.baseOffset));
    expect(seen.map((e) => e.partition)).toEqual(entries.map((e) => e.partition));
    expect(seen.map((e) => e.seq)).toEqual([...seen.keys()].map((i) => seen[0]!.seq + i));
    expect(decodeRecords(seen[7]!.batch)[0]!.value![0]).toBe(7);
    await w2.start();
    await w2.close();
  });

  test("once the chunk pool wraps, older entries are read from disk and every read matches what was appended", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const wal = newWal(dir, { cacheBytes: 0, segmentMaxBytes: 1 << 20 }); // two 64 KiB slabs
    wal.setListener({ durable: () => {}, failed: () => {}, dropping: async () => true });
    await wal.replay(() => {});
    await wal.start();
    const entries: WalEntry<string>[] = [];
    const originals: Uint8Array[] = [];
    for (let round = 0; round < 20; round++) {
      const waits: Promise<void>[] = [];
      for (let i = round * 10; i < round * 10 + 10; i++) {
        const b = batch(i, 1000);
        originals.push(b.slice());
        const e = new WalEntry(TOPIC, 0, i, b, `m${i}`);
        entries.push(e);
        waits.push(wal.append(e));
      }
      await Promise.all(waits);
    }
    expect(wal.cachedBytes).toBeLessThanOrEqual(128 * 1024);
    let cached = 0;
    entries.forEach((e, i) => {
      const bytes = wal.read(e.segment, e.pos, originals[i]!.length, e.chunk);
      expect(bytes).toEqual(originals[i]!);
      if (bytes.buffer.byteLength > bytes.length) cached++; // a view of a pool slab, not a read of its own
    });
    expect(cached).toBeGreaterThan(0);
    expect(cached).toBeLessThan(entries.length);
    await wal.close();
  });

  test("rotates into preallocated segments and keeps sequences monotonic across restarts", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const wal = newWal(dir);
    wal.setListener({ durable: () => {}, failed: () => {}, dropping: async () => true });
    await wal.replay(() => {});
    await wal.start();
    const waits = [];
    for (let i = 0; i < 400; i++) waits.push(wal.append(new WalEntry(TOPIC, 0, i, batch(i, 500), "")));
    await Promise.all(waits);
    await wal.close();
    const segs = readdirSync(join(dir)).filter((f) => f.endsWith(".wal"));
    expect(segs.length).toBeGreaterThan(3); // 400 x ~600 B over 64 KiB segments
    for (const s of segs) expect(statSync(join(dir, s)).size).toBe(64 * 1024);

    const { seen, wal: w2 } = await collect(dir);
    expect(seen.map((e) => e.baseOffset)).toEqual([...Array(400).keys()]);
    w2.setListener({ durable: () => {}, failed: () => {}, dropping: async () => true });
    await w2.start();
    const more = new WalEntry(TOPIC, 0, 400, batch(400), "");
    await w2.append(more);
    await w2.close();
    const { seen: again } = await collect(dir);
    expect(again.length).toBe(401);
    expect(again[400]!.seq).toBe(again[399]!.seq + 1);
  });

  test("a torn tail is truncated and zeroed, and new appends continue cleanly after it", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const wal = newWal(dir);
    wal.setListener({ durable: () => {}, failed: () => {}, dropping: async () => true });
    await wal.replay(() => {});
    await wal.start();
    const es = [0, 1, 2].map((i) => new WalEntry(TOPIC, 0, i, batch(i), ""));
    await Promise.all(es.map((e) => wal.append(e)));
    await wal.close();
    rmSync(join(dir, "closed")); // a crash leaves no clean-shutdown mark
    // Tear the last entry: garble bytes in the middle of its batch, as a crash mid-write would leave them.
    const seg = join(dir, readdirSync(dir).filter((f) => f.endsWith(".wal")).sort()[0]!);
    const last = es[2]!;
    const fd = openSync(seg, "r+");
    writeSync(fd, new Uint8Array([1, 2, 3, 4, 5]), 0, 5, last.pos + 70);
    closeSync(fd);

    const { seen, stats, wal: w2 } = await collect(dir);
    expect(seen.map((e) => e.baseOffset)).toEqual([0, 1]);
    expect(stats.truncatedBytes).toBeGreaterThan(0);
    const img = readFileSync(seg);
    expect(img.subarray(last.pos - ENTRY_HEADER).every((x) => x === 0)).toBe(true);
    w2.setListener({ durable: () => {}, failed: () => {}, dropping: async () => true });
    await w2.start();
    await w2.append(new WalEntry(TOPIC, 0, 2, batch(2), ""));
    await w2.close();
    const { seen: after } = await collect(dir);
    expect(after.map((e) => e.baseOffset)).toEqual([0, 1, 2]);
  });

  test("an I/O failure fails the group and everything queued behind it, and the WAL recovers", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const wal = newWal(dir);
    const failed: string[] = [];
    wal.setListener({ durable: () => {}, failed: (es) => failed.push(...es.map((e) => e.meta)), dropping: async () => true });
    await wal.replay(() => {});
    await wal.start();
    await wal.append(new WalEntry(TOPIC, 0, 0, batch(0), "ok"));
    // Pull the fd out from under it: the next write fails with EBADF, as a disk error would.
    const w = wal as unknown as { current: { fd: number } };
    const realFd = w.current.fd;
    w.current.fd = 987654;
    const p1 = wal.append(new WalEntry(TOPIC, 0, 1, batch(1), "bad1"));
    const p2 = wal.append(new WalEntry(TOPIC, 1, 0, batch(2), "bad2"));
    await expect(p1).rejects.toThrow(/WAL write failed/);
    await expect(p2).rejects.toThrow(/WAL write failed/);
    expect(failed).toEqual(["bad1", "bad2"]);
    w.current.fd = realFd;
    await wal.append(new WalEntry(TOPIC, 0, 1, batch(1), "retry"));
    await wal.close();
    const { seen } = await collect(dir);
    expect(seen.map((e) => e.baseOffset)).toEqual([0, 1]);
  });

  test("with a disk budget the oldest segments are handed to the listener and deleted", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const wal = newWal(dir, { maxDiskBytes: 4 * 64 * 1024 });
    const dropped: number[] = [];
    wal.setListener({ durable: () => {}, failed: () => {}, dropping: async (id) => (dropped.push(id), true) });
    await wal.replay(() => {});
    await wal.start();
    const waits = [];
    for (let i = 0; i < 800; i++) waits.push(wal.append(new WalEntry(TOPIC, 0, i, batch(i, 500), "")));
    await Promise.all(waits);
    await Bun.sleep(50);
    expect(dropped.length).toBeGreaterThan(0);
    expect(wal.diskBytes).toBeLessThanOrEqual(4 * 64 * 1024);
    await wal.close();
    const files = readdirSync(dir).filter((f) => f.endsWith(".wal"));
    expect(files.length).toBeLessThanOrEqual(4);
    const { seen } = await collect(dir);
    expect(seen[seen.length - 1]!.baseOffset).toBe(799);
    expect(seen[0]!.baseOffset).toBeGreaterThan(0);
  });

  test("an entry larger than a segment gets a segment of its own", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const wal = newWal(dir);
    wal.setListener({ durable: () => {}, failed: () => {}, dropping: async () => true });
    await wal.replay(() => {});
    await wal.start();
    const big = new WalEntry(TOPIC, 0, 0, batch(0, 200 * 1024), "");
    await wal.append(big);
    await wal.append(new WalEntry(TOPIC, 0, 1, batch(1), ""));
    await wal.close();
    const { seen } = await collect(dir);
    expect(seen.map((e) => e.baseOffset)).toEqual([0, 1]);
    expect(seen[0]!.batch.length).toBeGreaterThan(200 * 1024);
    expect(SEGMENT_HEADER).toBe(16);
  });
});
