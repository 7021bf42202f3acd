// The real Apache Kafka Java client (kafka-clients 4.4.0, test/peers/java/KliteJavaClient.java) against klite, both
// in-process and as the compiled binary: the idempotent producer writes records whose every byte is derived from their
// index, and the Java consumer checks each one exactly (key, value, headers, timestamp, partition, offset). For each
// compression codec, the stored batches are also fetched raw: still compressed with that codec, CRC intact, and
// decoding to the same records (the broker stores what producers send and never re-encodes).
import { expect, test } from "bun:test";
import { JAVA_PEER_NAME, javaClient, runJava } from "../helpers/java-peer.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { expectStoredIntact, type CodecName } from "../helpers/stored.ts";
import { describeTargets } from "../helpers/targets.ts";
import type { Record } from "../../src/protocol/records.ts";

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

/** Checks every partition's stored batches (codec, CRC, offsets) and that each record is exactly the model's. */
async function checkStoredBatches(port: number, topic: string, partitions: number, count: number, codec: CodecName): Promise<{ batches: number; records: number }> {
  let nBatches = 0;
  let nRecords = 0;
  for (let p = 0; p < partitions; p++) {
    const s = await expectStoredIntact(port, topic, p, partitions, count, codec);
    for (const r of s.records) {
      const bad = mismatch(r, p, partitions);
      if (bad) throw new Error(`stored record differs from what was produced: ${bad}`);
    }
    nBatches += s.batches.length;
    nRecords += s.records.length;
  }
  return { batches: nBatches, records: nRecords };
}

const COMPRESSED = ["gzip", "snappy", "lz4", "zstd"] as const;

describeWithPeer(JAVA_PEER_NAME, java, () => {
  describeTargets({}, (target) => {
    async function createTopic(topic: string, partitions: number): Promise<void> {
      const out = await runJava(["create-topic", "--bootstrap", target().bootstrap, "--topic", topic, "--partitions", String(partitions)]);
      expect(out).toContain(`created topic ${topic} with ${partitions} partitions`);
    }

    async function produceAndConsume(topic: string, count: number, partitions: number, extra: string[] = []): Promise<void> {
      await createTopic(topic, partitions);
      const common = ["--bootstrap", target().bootstrap, "--topic", topic, "--count", String(count), "--partitions", String(partitions)];
      const produced = await runJava(["produce", ...common, ...extra]);
      expect(produced).toContain(`produced ${count} records to ${topic}`);
      const consumed = await runJava(["consume", ...common]);
      expect(consumed).toContain(`consumed and verified ${count} records from ${topic}`);
    }

    test("12,000 records over 6 partitions: idempotent producer → consumer, every record exact", async () => {
      await produceAndConsume("java-plain", 12_000, 6);
      const stored = await checkStoredBatches(target().port, "java-plain", 6, 12_000, "none");
      expect(stored.records).toBe(12_000);
    }, 180_000);

    test("acks=1 (idempotence off): 2,000 records over 2 partitions, every record exact", async () => {
      await produceAndConsume("java-acks1", 2_000, 2, ["--acks", "1"]);
    }, 120_000);

    for (const codec of COMPRESSED) {
      test(`${codec}: consumer reads every record back; stored batches stay ${codec}-compressed, CRC-valid and exact`, async () => {
        const topic = `java-${codec}`;
        await produceAndConsume(topic, 3_000, 3, ["--compression", codec]);
        const stored = await checkStoredBatches(target().port, topic, 3, 3_000, codec);
        expect(stored.records).toBe(3_000);
        expect(stored.batches).toBeGreaterThanOrEqual(3);
      }, 120_000);
    }

    test("the consumer's check is not vacuous: one record more in the log than expected fails it", async () => {
      // java-gzip holds 3,000 records; expecting 2,999 makes the last one (2@999) an extra.
      const args = ["consume", "--bootstrap", target().bootstrap, "--topic", "java-gzip", "--count", "2999", "--partitions", "3", "--timeout-ms", "30000"];
      await expect(runJava(args)).rejects.toThrow("unexpected record 2999 at java-gzip/2@999 (only 2999 were produced)");
    }, 60_000);
  });
});
