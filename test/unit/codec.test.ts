import { describe, expect, test } from "bun:test";
import { DecodeError, Reader, Writer } from "../../src/protocol/codec.ts";

describe("primitive codec", () => {
  test("varints round-trip across the int32 range", () => {
    const values = [0, 1, -1, 63, -64, 64, 300, -300, 2 ** 31 - 1, -(2 ** 31), 123456789];
    const w = new Writer(4);
    for (const v of values) w.varint(v);
    const r = new Reader(w.finish());
    for (const v of values) expect(r.varint()).toBe(v);
    expect(r.remaining()).toBe(0);
  });

  test("varlongs round-trip timestamps and negatives", () => {
    const values = [0, -1, 1700000000000, -1700000000000, 2 ** 52, -(2 ** 52)];
    const w = new Writer();
    for (const v of values) w.varlong(v);
    const r = new Reader(w.finish());
    for (const v of values) expect(r.varlong()).toBe(v);
  });

  test("unsigned varints match the protobuf encoding", () => {
    const w = new Writer();
    w.uvarint(300);
    expect([...w.finish()]).toEqual([0xac, 0x02]);
  });

  test("strings: classic, compact, nullable, non-ASCII", () => {
    const w = new Writer(2);
    w.string("topic-1");
    w.compactString("héllo ✓ 𝄞");
    w.nullableString(null);
    w.compactNullableString(null);
    const r = new Reader(w.finish());
    expect(r.string()).toBe("topic-1");
    expect(r.compactString()).toBe("héllo ✓ 𝄞");
    expect(r.nullableString()).toBeNull();
    expect(r.compactNullableString()).toBeNull();
  });

  test("bytes are returned as views of the input, not copies", () => {
    const w = new Writer();
    w.bytes(new Uint8Array([1, 2, 3]));
    const buf = w.finish();
    const r = new Reader(buf);
    const b = r.bytes();
    expect([...b]).toEqual([1, 2, 3]);
    expect(b.buffer).toBe(buf.buffer);
  });

  test("int64 and uuid", () => {
    const w = new Writer();
    w.i64(-2n);
    w.i64n(2 ** 40 + 5);
    w.uuid("0123456789abcdef0123456789abcdef");
    const r = new Reader(w.finish());
    expect(r.i64()).toBe(-2n);
    expect(r.i64n()).toBe(2 ** 40 + 5);
    expect(r.uuid()).toBe("0123456789abcdef0123456789abcdef");
  });

  test("reading past the end is a DecodeError, and absurd array lengths are refused before allocating", () => {
    expect(() => new Reader(new Uint8Array([0, 5, 97])).string()).toThrow(DecodeError);
    const w = new Writer();
    w.i32(2_000_000_000);
    expect(() => new Reader(w.finish()).arrayLength(false)).toThrow(DecodeError);
  });
});
