// The produce-side record validation (src/log/validator.ts): what Kafka's LogValidator refuses, klite refuses, with
// Kafka's codes; and the defensive readers of stored batches (decodeRecords, retainRecords) fail cleanly on bytes
// that validation would have refused.
import { describe, expect, test } from "bun:test";
import { validateRecords, type InvalidBatch, type RecordRules } from "../../src/log/validator.ts";
import { buildBatch, checkProducedBatch, CorruptBatchError, decodeRecords, MAX_DECOMPRESSED_BATCH_BYTES, readBatchHeader, retainRecords } from "../../src/protocol/records.ts";
import { Compression } from "../../src/protocol/compression.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { craftBatch, rawRecord } from "../helpers/craft.ts";

const enc = new TextEncoder();
const NOW = 1_800_000_000_000;
const rules = (more: Partial<RecordRules> = {}): RecordRules => ({ compacted: false, logAppendTime: false, timestampBeforeMaxMs: Infinity, timestampAfterMaxMs: 3_600_000, ...more });

function validate(b: Uint8Array, r = rules()): number | InvalidBatch {
  const check = checkProducedBatch(b, 9);
  if (!check.ok) return { code: check.code, message: check.message, recordErrors: [] };
  return validateRecords(b, check.header, r, NOW, "t-0");
}

function refused(b: Uint8Array, r = rules()): InvalidBatch {
  const out = validate(b, r);
  if (typeof out === "number") throw new Error("the batch was accepted");
  return out;
}

describe("valid batches pass and report their max timestamp", () => {
  for (const [name, codec] of Object.entries(Compression)) {
    test(`${name}`, () => {
      const b = buildBatch(Array.from({ length: 20 }, (_, i) => ({ key: enc.encode(`k${i}`), value: enc.encode(`v${i}`), headers: [{ key: "h", value: null }], timestamp: NOW - 1000 + i })), { compression: codec });
      expect(validate(b)).toBe(NOW - 1000 + 19);
    });
  }
  test("null keys and values, empty headers", () => {
    expect(typeof validate(craftBatch([rawRecord({ offsetDelta: 0, key: null, value: null }), rawRecord({ offsetDelta: 1, value: new Uint8Array(0) })], { baseTimestamp: NOW, maxTimestamp: NOW }))).toBe("number");
  });
  test("a wrong max timestamp in the header is corrected, not refused", () => {
    const b = craftBatch([rawRecord({ offsetDelta: 0, tsDelta: 5 })], { baseTimestamp: NOW, maxTimestamp: NOW - 99 });
    expect(validate(b)).toBe(NOW + 5);
  });
});

describe("structural problems: INVALID_RECORD", () => {
  test("2^31-1 records claimed, one record of length -1 (issue 12 case 1)", () => {
    const b = craftBatch([rawRecord({ offsetDelta: 0, length: -1 })], { count: 2 ** 31 - 1 });
    expect(refused(b).code).toBe(ErrorCode.INVALID_RECORD);
  });
  test("a key length running past the batch end (issue 12 case 2)", () => {
    const r = refused(craftBatch([rawRecord({ offsetDelta: 0, key: enc.encode("k"), keyLength: 100 })]));
    expect(r.code).toBe(ErrorCode.INVALID_RECORD);
    expect(r.message).toContain("key length of 100");
  });
  test("more records claimed than present", () => {
    expect(refused(craftBatch([rawRecord({ offsetDelta: 0 })], { count: 2 })).message).toContain("premature EOF");
  });
  test("bytes left after the last record", () => {
    const extra = rawRecord({ offsetDelta: 1 });
    expect(refused(craftBatch([rawRecord({ offsetDelta: 0 }), extra], { count: 1 })).message).toContain("records still remaining");
  });
  test("a record longer than what is left", () => {
    expect(refused(craftBatch([rawRecord({ offsetDelta: 0, length: 500 })])).code).toBe(ErrorCode.INVALID_RECORD);
  });
  test("a record whose fields end before its length says", () => {
    expect(refused(craftBatch([rawRecord({ offsetDelta: 0, trailing: new Uint8Array(3) })])).message).toContain("but instead read");
  });
  test("offset deltas out of order", () => {
    expect(refused(craftBatch([rawRecord({ offsetDelta: 0 }), rawRecord({ offsetDelta: 5 })])).message).toContain("offset delta 5");
  });
  test("a negative header count, a null header key", () => {
    const negative = rawRecord({ offsetDelta: 0, headers: [] });
    negative[negative.length - 1] = 0x01; // header count varint -1
    expect(refused(craftBatch([negative])).message).toContain("record headers");
    const nullKey = rawRecord({ offsetDelta: 0, headers: [["a", null]] });
    const at = nullKey.length - 4; // header key length varint (1 = "a" ... overwritten with -1)
    nullKey[at] = 0x01;
    expect(refused(craftBatch([nullKey])).code).toBe(ErrorCode.INVALID_RECORD);
  });
  test("a varint longer than 5 bytes", () => {
    const r = rawRecord({ offsetDelta: 0 });
    const bad = new Uint8Array([...r.subarray(0, 3), 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
    expect(refused(craftBatch([bad])).code).toBe(ErrorCode.INVALID_RECORD);
  });
  test("an idempotent batch without a sequence number", () => {
    const b = buildBatch([{ value: enc.encode("x") }], { producerId: 7, producerEpoch: 0, baseSequence: -1, timestamp: NOW });
    expect(refused(b).message).toContain("Invalid sequence number -1");
  });
  test("compressed data that does not decompress: CORRUPT_MESSAGE", () => {
    const b = craftBatch([rawRecord({ offsetDelta: 0 })], { attributes: Compression.zstd }); // says zstd, holds plain bytes
    expect(refused(b).code).toBe(ErrorCode.CORRUPT_MESSAGE);
  });
  test("a compressed batch that would decompress past the bound is refused without allocating it", () => {
    const zeros = new Uint8Array(MAX_DECOMPRESSED_BATCH_BYTES + 1024);
    const b = craftBatch([zeros], { count: 1, compression: Compression.zstd });
    expect(b.length).toBeLessThan(64 * 1024);
    expect(refused(b).message).toContain("decompresses to more than");
  });
  test("a snappy block whose preamble claims 4 GiB is refused before it is allocated", () => {
    expect(refused(snappyBomb()).message).toContain("decompresses to more than");
  });
});

describe("topic rules", () => {
  test("a compacted topic refuses records without a key, listing each (Kafka's message)", () => {
    const b = craftBatch([rawRecord({ offsetDelta: 0, key: enc.encode("k") }), rawRecord({ offsetDelta: 1, key: null }), rawRecord({ offsetDelta: 2, key: null })], { baseTimestamp: NOW, maxTimestamp: NOW });
    const r = refused(b, rules({ compacted: true }));
    expect(r.code).toBe(ErrorCode.INVALID_RECORD);
    expect(r.recordErrors.map((e) => e.batchIndex)).toEqual([1, 2]);
    expect(r.recordErrors[0]!.message).toBe("Compacted topic cannot accept message without key in topic partition t-0.");
    expect(r.message).toStartWith("One or more records have been rejected due to 2 record errors in total");
    expect(typeof validate(b)).toBe("number"); // the same batch is fine for a delete topic
  });
  test("CreateTime: timestamps outside before/after.max.ms are INVALID_TIMESTAMP", () => {
    const b = craftBatch([rawRecord({ offsetDelta: 0, tsDelta: 0 }), rawRecord({ offsetDelta: 1, tsDelta: 7_200_000 })], { baseTimestamp: NOW, maxTimestamp: NOW + 7_200_000 });
    const r = refused(b);
    expect(r.code).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect(r.recordErrors).toEqual([{ batchIndex: 1, message: `Timestamp ${NOW + 7_200_000} of message with offset 1 is out of range. The timestamp should be within [${NOW - Infinity}, ${NOW + 3_600_000}]` }]);
    const old = craftBatch([rawRecord({ offsetDelta: 0 })], { baseTimestamp: NOW - 10_000, maxTimestamp: NOW - 10_000 });
    expect(refused(old, rules({ timestampBeforeMaxMs: 5000 })).code).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect(typeof validate(old, rules({ timestampBeforeMaxMs: 20_000 }))).toBe("number");
  });
  test("LogAppendTime topics ignore the producer's timestamps but refuse a producer-set LogAppendTime", () => {
    const future = craftBatch([rawRecord({ offsetDelta: 0 })], { baseTimestamp: NOW + 99_999_999, maxTimestamp: NOW + 99_999_999 });
    expect(typeof validate(future, rules({ logAppendTime: true }))).toBe("number");
    const lat = craftBatch([rawRecord({ offsetDelta: 0 })], { attributes: 0x08, baseTimestamp: NOW, maxTimestamp: NOW });
    expect(refused(lat, rules({ logAppendTime: true })).code).toBe(ErrorCode.INVALID_TIMESTAMP);
  });
});

describe("readers of stored batches fail cleanly on bad bytes", () => {
  const bad = [
    craftBatch([rawRecord({ offsetDelta: 0, length: -1 })], { count: 2 ** 31 - 1 }),
    craftBatch([rawRecord({ offsetDelta: 0, key: enc.encode("k"), keyLength: 100 })]),
    craftBatch([rawRecord({ offsetDelta: 0, length: 500 })]),
    craftBatch([rawRecord({ offsetDelta: 0 })], { count: 3 }),
    snappyBomb(),
  ];
  for (const [i, b] of bad.entries()) {
    test(`bad batch ${i}: decodeRecords and retainRecords throw CorruptBatchError`, () => {
      expect(() => decodeRecords(b)).toThrow(CorruptBatchError);
      expect(() => retainRecords(b, () => false)).toThrow(CorruptBatchError);
    });
  }
  test("a good batch still decodes", () => {
    const b = buildBatch([{ key: enc.encode("a"), value: enc.encode("b") }]);
    expect(decodeRecords(b).length).toBe(1);
    expect(readBatchHeader(b).recordsCount).toBe(1);
  });
});

/** A one-record snappy batch whose raw block's length preamble claims 4 GiB. */
function snappyBomb(): Uint8Array {
  return craftBatch([new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00])], { count: 1, attributes: Compression.snappy });
}
