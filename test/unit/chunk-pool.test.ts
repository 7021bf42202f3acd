import { describe, expect, test } from "bun:test";
import { ChunkPool, type Region } from "../../src/wal/chunk-pool.ts";

/** A group of one entry of n bytes filled with `fill`, closed (as the WAL does before writing it). */
function group(pool: ChunkPool, n: number, fill: number): Region {
  const r = pool.region(n);
  const at = pool.take(r, n);
  r.buf.fill(fill, at, at + n);
  pool.close(r);
  return r;
}

describe("WAL chunk pool", () => {
  test("slabs are bounded by the budget and reused oldest first, dropping the chunks they held", () => {
    const pool = new ChunkPool(1 << 20); // 16 slabs of 64 KiB
    expect(pool.slabBytes).toBe(64 * 1024);
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = group(pool, 30 * 1024, i & 255); // two per slab
      pool.commit(r, 1, i * 30 * 1024);
      ids.push(r.chunk);
    }
    expect(pool.allocatedBytes).toBe(1 << 20);
    // 40 groups in 20 slab fills over 16 slabs: the first 4 slabs (8 groups) were reused.
    for (let i = 0; i < 8; i++) expect(pool.get(ids[i]!)).toBeUndefined();
    for (let i = 8; i < 40; i++) {
      const c = pool.get(ids[i]!)!;
      expect(c.pos).toBe(i * 30 * 1024);
      expect(c.buf.every((b) => b === (i & 255))).toBe(true);
    }
    expect(pool.bytes).toBe(32 * 30 * 1024);
  });

  test("a region grows with its group up to the slab's end, then the next group starts after it", () => {
    const pool = new ChunkPool(1 << 20);
    const r = pool.region(1000);
    expect(pool.take(r, 1000)).toBe(0);
    expect(pool.take(r, 2000)).toBe(1000);
    expect(pool.take(r, 62 * 1024)).toBe(-1); // past the slab's end: the WAL starts a new group
    expect(pool.close(r).length).toBe(3000);
    const next = pool.region(500);
    expect(next.start).toBe(3000);
    expect(next.buf).toBe(r.buf);
  });

  test("a group larger than a slab gets its own buffer and is never readable from the pool", () => {
    const pool = new ChunkPool(1 << 20);
    const r = group(pool, 100 * 1024, 1);
    expect(r.buf.length).toBe(100 * 1024);
    expect(r.chunk).toBe(-1);
    pool.commit(r, 1, 0);
    expect(pool.bytes).toBe(0);
  });

  test("a slab holding a group not yet written is never reused: the next group gets a buffer of its own", () => {
    const pool = new ChunkPool(0); // two slabs of 64 KiB
    const first = group(pool, 40 * 1024, 1); // slab 0, not yet durable
    pool.commit(group(pool, 40 * 1024, 2), 1, 0); // slab 1
    const third = group(pool, 40 * 1024, 3); // slab 0 is pending: its own buffer
    expect(third.chunk).toBe(-1);
    expect(first.buf.subarray(first.start, first.start + 40 * 1024).every((b) => b === 1)).toBe(true);
    pool.commit(first, 1, 0);
    expect(pool.get(first.chunk)!.buf.every((b) => b === 1)).toBe(true);
    // Once written, slab 0 is reused (oldest first) and its chunk dropped.
    const fourth = group(pool, 40 * 1024, 4);
    expect(fourth.chunk).toBeGreaterThan(0);
    expect(pool.get(first.chunk)).toBeUndefined();
  });

  test("an abandoned (failed) group frees its slab for reuse", () => {
    const pool = new ChunkPool(0);
    const failed = group(pool, 40 * 1024, 1);
    pool.commit(group(pool, 40 * 1024, 2), 1, 0);
    pool.abandon(failed);
    const next = group(pool, 40 * 1024, 3);
    expect(next.chunk).toBeGreaterThan(0);
    expect(next.buf).toBe(failed.buf);
    pool.commit(failed, 1, 0); // too late: nothing to commit
    expect(pool.get(failed.chunk)).toBeUndefined();
  });

  test("dropping a segment forgets its chunks", () => {
    const pool = new ChunkPool(1 << 20);
    const a = group(pool, 1000, 1);
    pool.commit(a, 1, 0);
    const b = group(pool, 1000, 2);
    pool.commit(b, 2, 0);
    pool.dropSegment(1);
    expect(pool.get(a.chunk)).toBeUndefined();
    expect(pool.get(b.chunk)).toBeDefined();
    expect(pool.bytes).toBe(1000);
  });
});
