import { describe, expect, test } from "bun:test";
import { ProducerStates, lastSequence } from "../../src/log/producer-state.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import type { BatchHeader } from "../../src/protocol/records.ts";

const h = (epoch: number, seq: number, count = 1, pid = 7): BatchHeader => ({
  size: 100, attributes: 0, lastOffsetDelta: count - 1, baseTimestamp: 0, maxTimestamp: 0, producerId: pid, producerEpoch: epoch, baseSequence: seq, recordsCount: count,
});

describe("idempotent producer state", () => {
  test("in-order batches are new; a retried batch is a duplicate with its original offset", () => {
    const s = new ProducerStates();
    expect(s.check(h(0, 0, 5)).kind).toBe("new");
    s.record(h(0, 0, 5), 100, null, 0);
    expect(s.check(h(0, 5, 3)).kind).toBe("new");
    s.record(h(0, 5, 3), 105, null, 0);
    const dup = s.check(h(0, 0, 5));
    expect(dup.kind).toBe("duplicate");
    expect(dup.kind === "duplicate" && dup.batch.baseOffset).toBe(100);
  });

  test("a gap is OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch INVALID_PRODUCER_EPOCH; a new epoch restarts at 0", () => {
    const s = new ProducerStates();
    s.record(h(1, 0, 2), 0, null, 0);
    const gap = s.check(h(1, 5));
    expect(gap.kind === "error" && gap.code).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
    const old = s.check(h(0, 2));
    expect(old.kind === "error" && old.code).toBe(ErrorCode.INVALID_PRODUCER_EPOCH);
    expect(s.check(h(2, 0)).kind).toBe("new");
    const bad = s.check(h(2, 3));
    expect(bad.kind === "error" && bad.code).toBe(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER);
  });

  test("only the last five batches are remembered", () => {
    const s = new ProducerStates();
    for (let i = 0; i < 7; i++) s.record(h(0, i), i, null, 0);
    expect(s.check(h(0, 6)).kind).toBe("duplicate");
    expect(s.check(h(0, 2)).kind).toBe("duplicate");
    expect(s.check(h(0, 1)).kind).toBe("error");
  });

  test("sequences wrap at int32 max", () => {
    expect(lastSequence(2147483646, 3)).toBe(1);
    const s = new ProducerStates();
    s.record(h(0, 2147483647), 0, null, 0);
    expect(s.check(h(0, 0)).kind).toBe("new");
  });

  test("rollback forgets failed batches; snapshots keep durable ones only", () => {
    const s = new ProducerStates();
    s.record(h(0, 0, 2), 0, null, 0);
    s.record(h(0, 2, 2), 2, null, 0);
    expect(s.snapshot(2)).toEqual([[7, 0, 0, [[0, 1, 0, 1]]]]);
    s.rollback(2);
    expect(s.check(h(0, 2, 2)).kind).toBe("new");
    const t = new ProducerStates();
    t.restore(s.snapshot(10));
    expect(t.check(h(0, 0, 2)).kind).toBe("duplicate");
  });

  test("idle producers expire", () => {
    const s = new ProducerStates();
    s.record(h(0, 0), 0, null, 1000);
    s.expire(1000 + 86_400_001, 86_400_000);
    expect(s.producers.size).toBe(0);
  });
});
