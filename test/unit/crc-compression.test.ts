import { describe, expect, test } from "bun:test";
import { crc32c } from "../../src/protocol/crc32c.ts";
import { compress, decompress, Compression } from "../../src/protocol/compression.ts";
import { snappyCompressRaw, snappyDecompress } from "../../src/protocol/snappy.ts";
import { lz4Decompress, xxh32 } from "../../src/protocol/lz4.ts";

const bytewise = (b: Uint8Array) => {
  let c = ~0 >>> 0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
};

describe("crc32c", () => {
  test("check value", () => {
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
  });
  test("matches a bytewise reference at every alignment and length, and continues incrementally", () => {
    const big = new Uint8Array(4099).map((_, i) => (i * 131 + 7) & 255);
    for (const [s, e] of [[0, 4099], [1, 4000], [3, 19], [5, 6], [17, 4097]] as const) {
      expect(crc32c(big, s, e)).toBe(bytewise(big.subarray(s, e)));
      const mid = (s + e) >> 1;
      expect(crc32c(big, mid, e, crc32c(big, s, mid))).toBe(bytewise(big.subarray(s, e)));
    }
  });
});

describe("compression codecs", () => {
  const enc = new TextEncoder();
  const samples = [
    new Uint8Array(0),
    enc.encode("x"),
    enc.encode("abcabcabcabcabcabcabcabcabcabcabc-abcabcabc"),
    enc.encode(JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: i, user: `user-${i % 17}` })))),
    crypto.getRandomValues(new Uint8Array(70_000)),
    new Uint8Array(300_000),
  ];
  for (const [name, codec] of Object.entries(Compression)) {
    test(`${name} round-trips`, () => {
      for (const s of samples) expect(decompress(codec, compress(codec, s))).toEqual(s);
    });
  }
  test("raw snappy blocks (librdkafka's framing) decode too", () => {
    for (const s of samples) expect(snappyDecompress(snappyCompressRaw(s))).toEqual(s);
  });
  test("xxh32 matches the reference vectors", () => {
    expect(xxh32(new Uint8Array(0))).toBe(0x02cc5d05);
    expect(xxh32(enc.encode("a"))).toBe(0x550d7456);
    expect(xxh32(enc.encode("abc"))).toBe(0x32d153ff);
    expect(xxh32(enc.encode("Nobody inspects the spammish repetition"))).toBe(0xe2293b2f);
  });
  test("corrupt input is a clear error, not a crash", () => {
    expect(() => lz4Decompress(new Uint8Array([4, 34, 77, 24, 96, 64, 130, 50, 0, 0, 0, 1]))).toThrow();
    expect(() => decompress(2, new Uint8Array([5, 0xff, 0xff]))).toThrow(/snappy/);
  });
});
