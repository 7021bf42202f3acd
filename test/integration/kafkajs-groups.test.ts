// KafkaJS consumer groups: three members share six partitions and consume 30,000 records while one leaves midway
// and another joins; every record is consumed, duplicates stay rare (they can only come from a partition moving
// before its last commit), the work is shared, and committed offsets survive graceful and kill -9 restarts.
import { expect, test } from "bun:test";
import { Kafka, logLevel, type Consumer } from "kafkajs";
import { spawnBroker, startBroker, waitFor } from "../helpers/broker.ts";

process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";
const N = 30_000;

function consumerConfig(groupId: string) {
  return { groupId, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 250, rebalanceTimeout: 20_000, retry: { retries: 10 } };
}

test("three KafkaJS members share six partitions through a leave and a join; nothing is lost", async () => {
  const b = await startBroker({ groupInitialRebalanceDelayMs: 500 });
  const kafka = new Kafka({ brokers: [b.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "work", numPartitions: 6 }] });

  const seen = new Map<string, number>(); // key → times consumed
  const byMember: number[] = [];
  const consumers: Consumer[] = [];
  const start = async (i: number) => {
    const c = kafka.consumer(consumerConfig("workers"));
    await c.connect();
    await c.subscribe({ topic: "work", fromBeginning: true });
    byMember[i] = 0;
    await c.run({
      eachMessage: async ({ message }) => {
        const k = message.key!.toString();
        seen.set(k, (seen.get(k) ?? 0) + 1);
        byMember[i]!++;
      },
    });
    consumers[i] = c;
  };
  const t0 = performance.now();
  await Promise.all([0, 1, 2].map(start));
  await waitFor(async () => {
    const d = await admin.describeGroups(["workers"]);
    return d.groups[0]!.state === "Stable" && d.groups[0]!.members.length === 3;
  }, "a stable three-member group", 60_000);
  const stableMs = performance.now() - t0;
  process.stderr.write(`[kafkajs-groups] three members joined to Stable in ${stableMs.toFixed(0)} ms (initial delay 500 ms)\n`);

  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < N; i += 1000) {
    await producer.send({ topic: "work", messages: Array.from({ length: 1000 }, (_, j) => ({ key: `k${i + j}`, value: `v${i + j}` })) });
    if (i === 10_000) await consumers[1]!.disconnect(); // leaves midway
    if (i === 20_000) await start(3); // another joins
    await Bun.sleep(50);
  }
  await producer.disconnect();
  await waitFor(() => seen.size === N, `all ${N} records consumed (have ${seen.size})`, 90_000);

  const duplicates = [...seen.values()].reduce((n, x) => n + x - 1, 0);
  process.stderr.write(`[kafkajs-groups] per member ${JSON.stringify(byMember)}, duplicates ${duplicates}\n`);
  expect(seen.size).toBe(N);
  expect(duplicates).toBeLessThan(N / 10);
  for (const i of [0, 2, 3]) expect(byMember[i]).toBeGreaterThan(0); // the work is shared
  expect(byMember[1]).toBeGreaterThan(0);

  // Once idle, committed offsets reach the end of every partition.
  const ends = await admin.fetchTopicOffsets("work");
  await waitFor(async () => {
    const committed = (await admin.fetchOffsets({ groupId: "workers", topics: ["work"] }))[0]!.partitions;
    return committed.every((p) => p.offset === ends.find((e) => e.partition === p.partition)!.high);
  }, "offsets committed up to the end", 30_000);
  for (const i of [0, 2, 3]) await consumers[i]!.disconnect();
  await waitFor(async () => (await admin.describeGroups(["workers"])).groups[0]!.state === "Empty", "the group to empty", 20_000);
  await admin.disconnect();

  // A graceful restart keeps the offsets; a new member resumes where the group left off.
  const b2 = await b.restart();
  const kafka2 = new Kafka({ brokers: [b2.bootstrap], logLevel: logLevel.NOTHING });
  const admin2 = kafka2.admin();
  await admin2.connect();
  const after = (await admin2.fetchOffsets({ groupId: "workers", topics: ["work"] }))[0]!.partitions;
  expect(after.map((p) => Number(p.offset)).reduce((a, x) => a + x, 0)).toBe(N);
  const late = kafka2.consumer(consumerConfig("workers"));
  await late.connect();
  await late.subscribe({ topic: "work", fromBeginning: true });
  let again = 0;
  await late.run({ eachMessage: async () => void again++ });
  const p2 = kafka2.producer();
  await p2.connect();
  await p2.send({ topic: "work", messages: [{ key: "after-restart", value: "x" }] });
  await waitFor(() => again >= 1, "the new record");
  await Bun.sleep(500);
  expect(again).toBe(1); // only the new record: the committed offsets were honoured
  await late.disconnect();
  await p2.disconnect();
  const list = await admin2.listGroups();
  expect(list.groups.map((g) => g.groupId)).toContain("workers");
  await admin2.deleteGroups(["workers"]);
  expect((await admin2.listGroups()).groups.map((g) => g.groupId)).not.toContain("workers");
  await admin2.disconnect();
  await b2.stop();
  b2.cleanup();
}, 240_000);

test("an acknowledged offset commit survives kill -9", async () => {
  const broker = await spawnBroker({ args: ["--group-initial-rebalance-delay", "0s"] });
  const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "commits", numPartitions: 3 }] });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic: "commits", messages: Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, value: "v" })) });
  await producer.disconnect();
  const c = kafka.consumer({ ...consumerConfig("durable"), retry: { retries: 0 } });
  await c.connect();
  await c.subscribe({ topic: "commits", fromBeginning: true });
  let n = 0;
  await c.run({ autoCommit: false, eachMessage: async () => void n++ });
  await waitFor(() => n === 300, "300 records");
  await c.commitOffsets([0, 1, 2].map((partition) => ({ topic: "commits", partition, offset: String(50 + partition) })));
  await admin.disconnect();
  broker.kill("SIGKILL");
  await broker.exited;
  await c.disconnect().catch(() => {});
  const again = await spawnBroker({ dataDir: broker.dataDir, port: broker.port });
  const admin2 = new Kafka({ brokers: [again.bootstrap], logLevel: logLevel.NOTHING }).admin();
  await admin2.connect();
  const offsets = (await admin2.fetchOffsets({ groupId: "durable", topics: ["commits"] }))[0]!.partitions.sort((x, y) => x.partition - y.partition);
  expect(offsets.map((p) => p.offset)).toEqual(["50", "51", "52"]);
  await admin2.disconnect();
  again.kill("SIGTERM");
  expect(await again.exited).toBe(0);
}, 120_000);
