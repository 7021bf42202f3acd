// KafkaJS consumer groups: three members (each its own process, test/peers/kafkajs/member.ts, consumer.run) share
// six partitions and consume 30,000 records while one leaves midway and another joins (the scenario of
// helpers/group-members.ts: every record by key and offset, few duplicates, the work shared); committed offsets
// survive graceful and kill -9 restarts.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { Kafka, logLevel } from "../helpers/kafkajs.ts";
import { BUN, spawnBroker, startBroker, waitFor } from "../helpers/broker.ts";
import { shareWork, spawnMember } from "../helpers/group-members.ts";

process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";
const N = 30_000;
const MEMBER = join(import.meta.dir, "kafkajs", "member.ts");

function consumerConfig(groupId: string) {
  return { groupId, sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 250, rebalanceTimeout: 20_000, retry: { retries: 10 } };
}

test("three KafkaJS members (consumer.run) share 30,000 records over six partitions through a leave and a join; the offsets survive a restart", async () => {
  const b = await startBroker({ groupInitialRebalanceDelayMs: 300, groupMinSessionTimeoutMs: 1000 });
  try {
    const { members, protocols } = await shareWork({
      port: b.port,
      topic: "work",
      group: "workers",
      label: "kafkajs",
      start: (n) => spawnMember(`kafkajs-${n}`, [BUN, MEMBER, "--bootstrap", b.bootstrap, "--topic", "work", "--group", "workers", "--client-id", `kafkajs-${n}`]),
    });
    expect(protocols).toEqual(["RoundRobinAssigner"]); // KafkaJS's own assigner
    for (const m of members) expect(m.stdout()).toContain("closed");

    // Every member left cleanly after committing: the group is Empty and its offsets reach the end of every partition.
    const kafka = new Kafka({ brokers: [b.bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    expect((await admin.describeGroups(["workers"])).groups[0]!.state).toBe("Empty");
    const committed = (await admin.fetchOffsets({ groupId: "workers", topics: ["work"] }))[0]!.partitions;
    expect(committed.map((p) => Number(p.offset)).reduce((x, y) => x + y, 0)).toBe(N);
    await admin.disconnect();
  } finally {
    await b.stop();
  }

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
}, 300_000);

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
