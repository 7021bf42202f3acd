import { describe, expect, test } from "bun:test";
import { ChunkPool } from "../../src/wal/chunk-pool.ts";

describe("WAL chunk pool", () => {
  test("slabs are bounded by the budget and reused oldest first, dropping the chunks they held", () => {
    const pool = new ChunkPool(1 << 20); // 16 slabs of 64 KiB
    expect(pool.slabBytes).toBe(64 * 1024);
    const ids: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = pool.reserve(30 * 1024); // two per slab
      r.buf.fill(i & 255);
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

  test("a group larger than a slab gets its own buffer and is never readable from the pool", () => {
    const pool = new ChunkPool(1 << 20);
    const r = pool.reserve(100 * 1024);
    expect(r.buf.length).toBe(100 * 1024);
    expect(r.chunk).toBe(-1);
    pool.commit(r, 1, 0);
    expect(pool.bytes).toBe(0);
  });

  test("a reservation whose slab was reused before it became durable is not committed", () => {
    const pool = new ChunkPool(0); // two slabs of 64 KiB
    const first = pool.reserve(40 * 1024);
    pool.commit(pool.reserve(40 * 1024), 1, 0); // second slab
    pool.commit(pool.reserve(40 * 1024), 1, 0); // reuses the first slab while `first` is pending
    pool.commit(first, 1, 0);
    expect(pool.get(first.chunk)).toBeUndefined();
  });

  test("dropping a segment forgets its chunks", () => {
    const pool = new ChunkPool(1 << 20);
    const a = pool.reserve(1000);
    pool.commit(a, 1, 0);
    const b = pool.reserve(1000);
    pool.commit(b, 2, 0);
    pool.dropSegment(1);
    expect(pool.get(a.chunk)).toBeUndefined();
    expect(pool.get(b.chunk)).toBeDefined();
    expect(pool.bytes).toBe(1000);
  });
});
