// confluent-kafka (python3-confluent-kafka, librdkafka 2.0.x from Debian) against the broker in-process and the
// compiled binary: an idempotent acks=all producer writes 10,000 records over several partitions (keys, values,
// headers with a null value, explicit CreateTime timestamps), a partition-assigning consumer reads them back and
// checks every one; then the same for gzip, snappy, lz4 and zstd, and over the wire (our own Fetch) every stored
// batch is checked to still carry the producer's codec, a valid CRC and exactly the expected records.
// The record shape lives in test/peers/python/client.py; expected() below rebuilds it (keep the two in step).
import { expect, test } from "bun:test";
import { join } from "node:path";
import { describeWithPeer, pythonConfluent, run } from "../helpers/peers.ts";
import { createTopic, expectStoredIntact, type CodecName } from "../helpers/stored.ts";
import { describeTargets } from "../helpers/targets.ts";

const CLIENT = join(import.meta.dir, "python", "client.py");
const BASE_TS = 1_700_000_000_000;
const enc = new TextEncoder();
const dec = new TextDecoder();


/** Record i exactly as client.py writes it. */
function expected(i: number): { key: Uint8Array; value: Uint8Array; headers: { key: string; value: Uint8Array | null }[]; timestamp: number } {
  const length = 120 + ((i * 131) % 480);
  const unit = `value-${i}-`;
  const text = unit.repeat(Math.floor(length / unit.length) + 1).slice(0, length);
  const value = new Uint8Array(length + 3);
  value.set(enc.encode(text));
  value.set([i % 256, 0, 255], length);
  const headers: { key: string; value: Uint8Array | null }[] = [
    { key: "idx", value: enc.encode(String(i)) },
    { key: "src", value: enc.encode("confluent-kafka") },
  ];
  if (i % 7 === 0) headers.push({ key: "nothing", value: null });
  return { key: enc.encode(`k-${i}`), value, headers, timestamp: BASE_TS + i };
}

/** Every stored batch as the producer sent it, and every record exactly as client.py wrote it. */
async function checkStored(port: number, topic: string, partitions: number, count: number, codec: CodecName): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    const s = await expectStoredIntact(port, topic, p, partitions, count, codec);
    s.records.forEach((r, k) => {
      const i = p + k * partitions;
      const e = expected(i);
      expect(r.timestamp).toBe(e.timestamp);
      if (dec.decode(r.key!) !== `k-${i}`) throw new Error(`${topic}-${p}@${k}: key ${dec.decode(r.key!)}, expected k-${i}`);
      expect(Buffer.from(r.value!).equals(Buffer.from(e.value))).toBe(true);
      expect(r.headers.map((h) => [h.key, h.value === null ? null : dec.decode(h.value)])).toEqual(e.headers.map((h) => [h.key, h.value === null ? null : dec.decode(h.value)]));
    });
  }
}

/** Auto-created topics get this many partitions (--default-partitions). */
const DEFAULT_PARTITIONS = 3;

const py = await pythonConfluent();

describeWithPeer("confluent-kafka (python)", py, () => {
  const python = py.ok ? py.path : "python3";
  const client = (cmd: "produce" | "consume", bootstrap: string, topic: string, count: number, partitions: number, compression: CodecName = "none") =>
    run([python, CLIENT, cmd, "--bootstrap", bootstrap, "--topic", topic, "--count", String(count), "--partitions", String(partitions), "--compression", compression, "--timeout", "90"], { timeoutMs: 120_000 });

  describeTargets({ defaultPartitions: DEFAULT_PARTITIONS }, (target) => {

    test("an idempotent acks=all producer writes 10,000 records over 5 partitions, stored intact; a consumer reads every one back exactly", async () => {
      const t = target();
      await createTopic(t.port, "py-records", 5);
      expect(await client("produce", t.bootstrap, "py-records", 10_000, 5)).toContain("produced 10000 records");
      await checkStored(t.port, "py-records", 5, 10_000, "none");
      expect(await client("consume", t.bootstrap, "py-records", 10_000, 5)).toContain("consumed and verified 10000 records");
    }, 240_000);

    for (const codec of ["gzip", "snappy", "lz4", "zstd"] as const) {
      test(`${codec}: records are stored as the producer's intact ${codec} batches and read back exactly`, async () => {
        const t = target();
        // The producer's Metadata request auto-creates the topic with --default-partitions partitions.
        const topic = `py-${codec}`;
        expect(await client("produce", t.bootstrap, topic, 3_000, DEFAULT_PARTITIONS, codec)).toContain("produced 3000 records");
        await checkStored(t.port, topic, DEFAULT_PARTITIONS, 3_000, codec);
        expect(await client("consume", t.bootstrap, topic, 3_000, DEFAULT_PARTITIONS, codec)).toContain("consumed and verified 3000 records");
      }, 180_000);
    }
  });
});
