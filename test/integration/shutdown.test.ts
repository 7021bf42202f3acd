// Issue 12 case 10: a graceful stop answers every request it has read before it closes a connection (and stops
// reading before it closes), within its deadline: pipelined produces waiting for their fsync and a long-poll fetch
// included. What a client sees must match the log: every produce answered OK is there after a restart, and no
// produce the client got no answer to is in the log.
import { afterEach, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { readTopic } from "../helpers/read-topic.ts";
import { buildBatch } from "../../src/protocol/records.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const cleanup: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function produceFrame(topic: string, key: string, corr: number): Uint8Array {
  const body = { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: buildBatch([{ key: enc.encode(key), value: enc.encode(`v-${key}`) }]) }] }] };
  return RawClient.frame(0, 9, body, corr);
}

function fetchFrame(topic: string, corr: number): Uint8Array {
  return RawClient.frame(1, 12, {
    replicaId: -1, maxWaitMs: 30_000, minBytes: 1 << 30, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1,
    topics: [{ topic, partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20, currentLeaderEpoch: -1, logStartOffset: -1n }] }], forgottenTopicsData: [], rackId: "",
  }, corr);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Every response frame until the broker closes the connection, by correlation id. */
async function drain(c: RawClient): Promise<Map<number, Uint8Array>> {
  const got = new Map<number, Uint8Array>();
  for (;;) {
    const f = await c.nextFrame(20_000);
    if (!f) return got;
    got.set(new DataView(f.buffer, f.byteOffset).getInt32(0), f);
  }
}

describe("graceful stop with requests in flight", () => {
  for (let round = 1; round <= 5; round++) {
    test(`round ${round}: pipelined produces waiting for their fsync and a long poll are all answered; answered = stored`, async () => {
      // A long group-commit wait keeps the produces in flight when the stop begins.
      let b: TestBroker = await startBroker({ walSyncIntervalMs: 400 });
      cleanup.push(() => b.cleanup());
      const setup = await RawClient.connect(b.port);
      const cr = await setup.request(19, 7, { topics: [{ name: "stop", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
      expect(cr.topics[0].errorCode).toBe(0);
      setup.close();

      const pollClient = await RawClient.connect(b.port);
      pollClient.sendRaw(fetchFrame("stop", 1));
      const c = await RawClient.connect(b.port);
      const keys = Array.from({ length: 40 }, (_, i) => `r${round}-k${i}`);
      c.sendRaw(concat(keys.map((k, i) => produceFrame("stop", k, 100 + i))));
      await Bun.sleep(100 + round * 20);
      // A client that keeps writing while the broker stops: whatever of it is read must be answered too.
      let extra = 0;
      const writer = setInterval(() => {
        if (c.isClosed) return;
        c.sendRaw(produceFrame("stop", `late-${round}-${extra}`, 1000 + extra));
        extra++;
      }, 2);
      const responses = drain(c);
      const poll = drain(pollClient);
      const stopped = b.broker.stop();
      const got = await responses;
      clearInterval(writer);
      expect((await poll).has(1)).toBe(true); // the long poll was answered, not cut off
      await stopped;

      const answered = new Set<string>();
      for (const [corr, frame] of got) {
        const r = RawClient.decodeResponse(0, 9, frame, corr) as { responses: { partitionResponses: { errorCode: number }[] }[] };
        expect(r.responses[0]!.partitionResponses[0]!.errorCode).toBe(0);
        answered.add(corr >= 1000 ? `late-${round}-${corr - 1000}` : keys[corr - 100]!);
      }
      // Everything pipelined before the stop was read before it, so all of it is answered.
      for (const k of keys) expect(answered.has(k)).toBe(true);

      b = await startBroker({ dataDir: b.dataDir });
      cleanup.push(() => b.stop());
      const stored = (await readTopic(b.port, "stop")).get(0)!.map((r) => dec.decode(r.key!));
      expect(new Set(stored)).toEqual(answered);
    }, 60_000);
  }
});
