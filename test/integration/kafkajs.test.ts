// KafkaJS against the broker in-process and against the compiled binary: admin, 10,000 records over several
// partitions with keys, values, headers and timestamps (idempotent and plain producers), read back exactly.
import { describe, expect, test } from "bun:test";
import { Kafka, logLevel, type Admin } from "../helpers/kafkajs.ts";
import { describeTargets } from "../helpers/targets.ts";
import { readTopic } from "../helpers/read-topic.ts";

process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";
const dec = new TextDecoder();

describe("KafkaJS", () => {
  describeTargets({}, (target) => {
    let kafka: Kafka;
    let admin: Admin;

    test("connects and creates topics", async () => {
      kafka = new Kafka({ clientId: "klite-test", brokers: [target().bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 3 } });
      admin = kafka.admin();
      await admin.connect();
      expect(await admin.createTopics({ topics: [{ topic: "orders", numPartitions: 4 }, { topic: "plain", numPartitions: 2 }], waitForLeaders: true })).toBe(true);
      const md = await admin.fetchTopicMetadata({ topics: ["orders"] });
      expect(md.topics[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2, 3]);
      expect((await admin.listTopics()).sort()).toEqual(["orders", "plain"]);
      const cluster = await admin.describeCluster();
      expect(cluster.brokers).toEqual([{ nodeId: 0, host: "127.0.0.1", port: target().port }]);
    }, 60_000);

    test("an idempotent producer writes 10,000 records and every one reads back exactly", async () => {
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 5 });
      await producer.connect();
      const base = Date.now() - 60_000;
      const N = 10_000;
      const sends: Promise<unknown>[] = [];
      for (let start = 0; start < N; start += 500) {
        const messages = Array.from({ length: 500 }, (_, j) => {
          const i = start + j;
          return { partition: i % 4, key: `key-${i}`, value: `value-${i}-${"x".repeat(i % 200)}`, timestamp: String(base + i), headers: { idx: String(i), kind: i % 2 ? "odd" : "even" } };
        });
        sends.push(producer.send({ topic: "orders", acks: -1, messages }));
      }
      await Promise.all(sends);
      await producer.disconnect();

      const offsets = await admin.fetchTopicOffsets("orders");
      expect(offsets.map((o) => Number(o.high)).reduce((a, b) => a + b, 0)).toBe(N);
      const parts = await readTopic(target().port, "orders");
      let total = 0;
      for (const [p, recs] of parts) {
        recs.forEach((r, k) => expect(r.offset).toBe(k));
        const seen = new Set<number>();
        for (const r of recs) {
          const i = Number(dec.decode(r.key!).slice(4));
          expect(i % 4).toBe(p);
          expect(seen.has(i)).toBe(false); // exactly once (concurrent send() calls may land in any order)
          seen.add(i);
          expect(dec.decode(r.value!)).toBe(`value-${i}-${"x".repeat(i % 200)}`);
          expect(r.timestamp).toBe(base + i);
          expect(r.headers.map((h) => [h.key, dec.decode(h.value!)])).toEqual([["idx", String(i)], ["kind", i % 2 ? "odd" : "even"]]);
        }
        total += recs.length;
      }
      expect(total).toBe(N);
    }, 120_000);

    test("acks=1 and acks=0 producers, gzip batches, null values and keys", async () => {
      const producer = kafka.producer();
      await producer.connect();
      const { CompressionTypes } = await import("kafkajs");
      await producer.send({ topic: "plain", acks: 1, compression: CompressionTypes.GZIP, messages: [{ partition: 0, key: null, value: "gz-1" }, { partition: 0, key: "k", value: null }] });
      await producer.send({ topic: "plain", acks: 0, messages: [{ partition: 1, value: "fire-and-forget" }] });
      await producer.disconnect();
      let p1: unknown[] = [];
      for (let i = 0; i < 50 && p1.length === 0; i++) {
        p1 = (await readTopic(target().port, "plain")).get(1)!;
        if (p1.length === 0) await Bun.sleep(50);
      }
      const parts = await readTopic(target().port, "plain");
      const p0 = parts.get(0)!;
      expect(p0.map((r) => [r.key && dec.decode(r.key), r.value && dec.decode(r.value), r.codec])).toEqual([[null, "gz-1", 1], ["k", null, 1]]);
      expect(parts.get(1)!.map((r) => dec.decode(r.value!))).toEqual(["fire-and-forget"]);
    }, 60_000);

    test("topic offsets by time, partitions added, topics deleted", async () => {
      const all = await readTopic(target().port, "orders");
      const r = all.get(0)![100]!;
      const byTime = await admin.fetchTopicOffsetsByTimestamp("orders", r.timestamp);
      expect(Number(byTime.find((o) => o.partition === 0)!.offset)).toBe(100);
      await admin.createPartitions({ topicPartitions: [{ topic: "orders", count: 6 }] });
      const md = await admin.fetchTopicMetadata({ topics: ["orders"] });
      expect(md.topics[0]!.partitions.length).toBe(6);
      await admin.deleteTopics({ topics: ["plain"] });
      expect(await admin.listTopics()).toEqual(["orders"]);
      await admin.disconnect();
    }, 60_000);
  });
});
