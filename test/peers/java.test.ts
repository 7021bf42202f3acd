// The real Apache Kafka Java client (kafka-clients 4.4.0, test/peers/java/KliteJavaClient.java) against klite, both
// in-process and as the compiled binary: the idempotent producer writes records whose every byte is derived from their
// index, and the Java consumer checks each one exactly (key, value, headers, timestamp, partition, offset). For each
// compression codec, the stored batches are also fetched raw: still compressed with that codec, CRC intact, and
// decoding to the same records (the broker stores what producers send and never re-encodes).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { ensureBinary } from "../helpers/binary.ts";
import { spawnBroker, startBroker } from "../helpers/broker.ts";
import { JAVA_PEER_NAME, javaClient, runJava } from "../helpers/java-peer.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { Attr, batchIsIntact, batches, decodeRecords, type Record } from "../../src/protocol/records.ts";

const java = await javaClient();

// --- the record model of KliteJavaClient (produce/consume), mirrored for the raw checks --------------------------

const BASE_TS = 1_700_000_000_000;
const enc = new TextEncoder();

function value(i: number): Uint8Array {
  const len = 100 + ((i * 7919) % 400);
  const b = new Uint8Array(len);
  const text = enc.encode(`value-${i}|`);
  let x = BigInt.asUintN(64, BigInt(i) * 0x9e3779b97f4a7c15n + 0x632be59bd9b4e019n);
  for (let j = 0; j < len; j++) {
    if (j % 4 === 3) {
      x = BigInt.asUintN(64, x ^ (x << 13n));
      x = x ^ (x >> 7n);
      x = BigInt.asUintN(64, x ^ (x << 17n));
      b[j] = Number(x & 0xffn);
    } else {
      b[j] = text[j % text.length]!;
    }
  }
  return b;
}

function h2(i: number): Uint8Array | null {
  if (i % 5 === 0) return null;
  const b = new Uint8Array(i % 13);
  for (let j = 0; j < b.length; j++) b[j] = (i + j * 3) & 0xff;
  return b;
}

function same(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.from(a).equals(Buffer.from(b));
}

/** Null when the stored record at partition p is exactly record i of the model, else what differs. */
function mismatch(r: Record, p: number, partitions: number): string | null {
  const i = r.offset * partitions + p;
  const at = `${p}@${r.offset}`;
  if (!same(r.key, enc.encode(`k-${i}`))) return `key at ${at}`;
  if (!same(r.value, value(i))) return `value at ${at}`;
  if (r.timestamp !== BASE_TS + i) return `timestamp at ${at}: ${r.timestamp}, expected ${BASE_TS + i}`;
  if (r.headers.length !== 2) return `${r.headers.length} headers at ${at}`;
  if (r.headers[0]!.key !== "idx" || !same(r.headers[0]!.value, enc.encode(String(i)))) return `header idx at ${at}`;
  if (r.headers[1]!.key !== "h2" || !same(r.headers[1]!.value, h2(i))) return `header h2 at ${at}`;
  return null;
}

/**
 * Reads every partition of `topic` raw (Fetch v12) and checks that each stored batch carries `codec`, has a valid
 * CRC, and decodes to the model's records at contiguous offsets. Returns how many batches and records it saw.
 */
async function checkStoredBatches(port: number, topic: string, partitions: number, count: number, codec: number): Promise<{ batches: number; records: number }> {
  const client = await RawClient.connect(port);
  let nBatches = 0;
  let nRecords = 0;
  try {
    for (let p = 0; p < partitions; p++) {
      const want = Math.floor(count / partitions) + (p < count % partitions ? 1 : 0);
      let next = 0;
      for (let round = 0; next < want; round++) {
        if (round > 10_000) throw new Error(`partition ${p}: no progress at offset ${next}`);
        const res = await client.request(1, 12, {
          replicaId: -1,
          maxWaitMs: 0,
          minBytes: 1,
          maxBytes: 8 << 20,
          isolationLevel: 0,
          sessionId: 0,
          sessionEpoch: -1,
          topics: [{ topic, partitions: [{ partition: p, currentLeaderEpoch: -1, fetchOffset: BigInt(next), lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }],
          forgottenTopicsData: [],
          rackId: "",
        });
        expect(res).not.toBeNull();
        expect(res.errorCode).toBe(0);
        const pd = res.responses[0].partitions[0];
        expect(pd.errorCode).toBe(0);
        expect(Number(pd.highWatermark)).toBe(want);
        const bytes = pd.records as Uint8Array;
        expect(bytes).toBeInstanceOf(Uint8Array);
        let progressed = false;
        for (const b of batches(bytes)) {
          if (b.baseOffset + b.header.lastOffsetDelta < next) continue; // a batch starting before the fetch offset
          const got = b.header.attributes & Attr.compressionMask;
          if (got !== codec) throw new Error(`batch at ${p}@${b.baseOffset} is stored with codec ${got}, produced with ${codec}`);
          expect(b.header.attributes & Attr.transactional).toBe(0);
          if (!batchIsIntact(bytes, b.pos, b.pos + b.size)) throw new Error(`batch at ${p}@${b.baseOffset} fails its CRC check`);
          const recs = decodeRecords(bytes, b.pos);
          expect(recs.length).toBe(b.header.recordsCount);
          for (const r of recs) {
            if (r.offset < next) continue;
            if (r.offset !== next) throw new Error(`partition ${p}: offset ${r.offset} where ${next} was expected`);
            const bad = mismatch(r, p, partitions);
            if (bad) throw new Error(`stored record differs from what was produced: ${bad}`);
            next++;
            nRecords++;
            progressed = true;
          }
          nBatches++;
        }
        if (!progressed) throw new Error(`partition ${p}: fetch at ${next} returned no records (high watermark ${pd.highWatermark})`);
      }
      expect(next).toBe(want);
    }
  } finally {
    client.close();
  }
  return { batches: nBatches, records: nRecords };
}

// --- targets ------------------------------------------------------------------------------------------------------

interface Target {
  port: number;
  bootstrap: string;
  stop(): Promise<void>;
}

const TARGETS: { name: string; start(): Promise<Target> }[] = [
  {
    name: "in-process broker",
    async start() {
      const b = await startBroker();
      return {
        port: b.port,
        bootstrap: b.bootstrap,
        async stop() {
          await b.stop();
          b.cleanup();
        },
      };
    },
  },
  {
    name: "compiled binary",
    async start() {
      const b = await spawnBroker({ command: [await ensureBinary()] });
      return {
        port: b.port,
        bootstrap: b.bootstrap,
        async stop() {
          try {
            process.kill(b.pid, "SIGTERM");
          } catch {
            // already gone
          }
          const code = await Promise.race([b.exited, Bun.sleep(15_000).then(() => null)]);
          if (code === null) {
            process.kill(b.pid, "SIGKILL");
            await b.exited;
          }
          rmSync(b.dataDir, { recursive: true, force: true });
        },
      };
    },
  },
];

const CODECS: [name: string, id: number][] = [
  ["gzip", 1],
  ["snappy", 2],
  ["lz4", 3],
  ["zstd", 4],
];

describeWithPeer(JAVA_PEER_NAME, java, () => {
  for (const target of TARGETS) {
    describe(target.name, () => {
      let t: Target | undefined;

      beforeAll(async () => {
        t = await target.start();
      }, 240_000); // the binary may have to be built first

      afterAll(async () => {
        await t?.stop();
      }, 30_000);

      async function createTopic(topic: string, partitions: number): Promise<void> {
        const out = await runJava(["create-topic", "--bootstrap", t!.bootstrap, "--topic", topic, "--partitions", String(partitions)]);
        expect(out).toContain(`created topic ${topic} with ${partitions} partitions`);
      }

      async function produceAndConsume(topic: string, count: number, partitions: number, extra: string[] = []): Promise<void> {
        await createTopic(topic, partitions);
        const common = ["--bootstrap", t!.bootstrap, "--topic", topic, "--count", String(count), "--partitions", String(partitions)];
        const produced = await runJava(["produce", ...common, ...extra]);
        expect(produced).toContain(`produced ${count} records to ${topic}`);
        const consumed = await runJava(["consume", ...common]);
        expect(consumed).toContain(`consumed and verified ${count} records from ${topic}`);
      }

      test("12,000 records over 6 partitions: idempotent producer → consumer, every record exact", async () => {
        await produceAndConsume("java-plain", 12_000, 6);
        const stored = await checkStoredBatches(t!.port, "java-plain", 6, 12_000, 0);
        expect(stored.records).toBe(12_000);
      }, 180_000);

      test("acks=1 (idempotence off): 2,000 records over 2 partitions, every record exact", async () => {
        await produceAndConsume("java-acks1", 2_000, 2, ["--acks", "1"]);
      }, 120_000);

      for (const [codec, id] of CODECS) {
        test(`${codec}: consumer reads every record back; stored batches stay ${codec}-compressed, CRC-valid and exact`, async () => {
          const topic = `java-${codec}`;
          await produceAndConsume(topic, 3_000, 3, ["--compression", codec]);
          const stored = await checkStoredBatches(t!.port, topic, 3, 3_000, id);
          expect(stored.records).toBe(3_000);
          expect(stored.batches).toBeGreaterThanOrEqual(3);
        }, 120_000);
      }

      test("the consumer's check is not vacuous: one record more in the log than expected fails it", async () => {
        // java-gzip holds 3,000 records; expecting 2,999 makes the last one (2@999) an extra.
        const args = ["consume", "--bootstrap", t!.bootstrap, "--topic", "java-gzip", "--count", "2999", "--partitions", "3", "--timeout-ms", "30000"];
        await expect(runJava(args)).rejects.toThrow("unexpected record 2999 at java-gzip/2@999 (only 2999 were produced)");
      }, 60_000);
    });
  }
});
