// The admin calls of the Kafka tools suite through the clients' own admin APIs: the Java AdminClient (configs with
// incremental ops, DeleteRecords, ListOffsets specs incl. earliest-local and latest-tiered, DescribeProducers,
// DescribeLogDirs), confluent-kafka's AdminClient (what librdkafka 2.0 / confluent-kafka 1.7 has: describe_configs,
// alter_configs, list_groups) and KafkaJS's admin (describeConfigs, alterConfigs, deleteTopicRecords, listGroups).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { javaClient, JAVA_PEER_NAME, runJava } from "../helpers/java-peer.ts";
import { ConfigResourceTypes, Kafka, logLevel, type Admin } from "../helpers/kafkajs.ts";
import { describeWithPeer, pythonConfluent, run } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";

const java = await javaClient();
const python = await pythonConfluent();
const CLIENT = join(import.meta.dir, "python", "client.py");
let b: TestBroker;
let c: RawClient;

async function createTopic(name: string, partitions = 1, configs: Record<string, string> = {}) {
  const r = await c.request(19, 7, { topics: [{ name, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: Object.entries(configs).map(([n, value]) => ({ name: n, value })) }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
}

/** A group that only commits offsets (generation -1), as a simple consumer does. */
async function simpleCommit(group: string, topic: string, offset: bigint) {
  const r = await c.request(8, 8, { groupId: group, generationIdOrMemberEpoch: -1, memberId: "", groupInstanceId: null, topics: [{ name: topic, partitions: [{ partitionIndex: 0, committedOffset: offset, committedLeaderEpoch: -1, committedMetadata: "" }] }] });
  expect(r.topics[0].partitions[0].errorCode).toBe(0);
}

beforeAll(async () => {
  b = await startBroker({ autoCreateTopics: false });
  c = await RawClient.connect(b.port);
});

afterAll(async () => {
  c.close();
  await b.stop();
  b.cleanup();
});

describeWithPeer(JAVA_PEER_NAME, java, () => {
  // Lines sorted: the client keeps a config's entries in a hash map.
  const admin = async (args: string[]) => (await runJava(["admin", "--bootstrap", b.bootstrap, ...args])).trim().split("\n").sort();

  test("AdminClient configs: describe with synonyms, incremental SET/DELETE/APPEND/SUBTRACT, the broker and its default, refusals", async () => {
    await createTopic("java-cfg", 1, { "retention.ms": "3600000" });
    expect(await admin(["--action", "describe-configs", "--type", "topic", "--name", "java-cfg", "--keys", "retention.ms,cleanup.policy"])).toEqual([
      "config cleanup.policy=delete source=DEFAULT_CONFIG sensitive=false readOnly=false synonyms=DEFAULT_CONFIG:log.cleanup.policy=delete",
      "config retention.ms=3600000 source=DYNAMIC_TOPIC_CONFIG sensitive=false readOnly=false synonyms=DYNAMIC_TOPIC_CONFIG:retention.ms=3600000",
    ]);
    expect(await admin(["--action", "alter-configs", "--type", "topic", "--name", "java-cfg", "--set", "max.message.bytes=5000;retention.bytes=1000000", "--delete", "retention.ms", "--append", "cleanup.policy=compact"])).toEqual(["altered TOPIC java-cfg"]);
    expect(await admin(["--action", "describe-configs", "--type", "topic", "--name", "java-cfg", "--keys", "retention.ms,cleanup.policy,max.message.bytes"])).toEqual([
      "config cleanup.policy=delete,compact source=DYNAMIC_TOPIC_CONFIG sensitive=false readOnly=false synonyms=DYNAMIC_TOPIC_CONFIG:cleanup.policy=delete,compact,DEFAULT_CONFIG:log.cleanup.policy=delete",
      "config max.message.bytes=5000 source=DYNAMIC_TOPIC_CONFIG sensitive=false readOnly=false synonyms=DYNAMIC_TOPIC_CONFIG:max.message.bytes=5000,DEFAULT_CONFIG:message.max.bytes=1048588",
      "config retention.ms=604800000 source=DEFAULT_CONFIG sensitive=false readOnly=false synonyms=",
    ]);
    expect(await admin(["--action", "alter-configs", "--type", "topic", "--name", "java-cfg", "--subtract", "cleanup.policy=delete"])).toEqual(["altered TOPIC java-cfg"]);
    expect((await admin(["--action", "describe-configs", "--type", "topic", "--name", "java-cfg", "--keys", "cleanup.policy"]))[0]).toStartWith("config cleanup.policy=compact ");
    expect(await admin(["--action", "alter-configs", "--type", "topic", "--name", "java-cfg", "--append", "retention.ms=5"])).toEqual(["error alter-configs InvalidConfigurationException: Can't APPEND to key retention.ms because its type is not LIST."]);
    expect(await admin(["--action", "alter-configs", "--type", "topic", "--name", "java-cfg", "--set", "no.such=1"])).toEqual(["error alter-configs InvalidConfigurationException: Unknown topic config name: no.such"]);
    expect(await admin(["--action", "alter-configs", "--type", "topic", "--name", "missing", "--set", "retention.ms=1"])).toEqual(["error alter-configs UnknownTopicOrPartitionException: The topic 'missing' does not exist."]);
    expect(await admin(["--action", "alter-configs", "--type", "broker", "--name", "0", "--set", "log.dirs=/elsewhere"])).toEqual(["error alter-configs InvalidRequestException: Cannot update these configs dynamically: [log.dirs]"]);
    expect(await admin(["--action", "alter-configs", "--type", "broker-default", "--set", "log.retention.ms=7200000"])).toEqual(["altered BROKER"]); // the cluster default: an empty name
    expect(await admin(["--action", "describe-configs", "--type", "broker", "--name", "0", "--keys", "log.retention.ms,log.dirs"])).toEqual([
      `config log.dirs=${b.dataDir} source=STATIC_BROKER_CONFIG sensitive=false readOnly=true synonyms=STATIC_BROKER_CONFIG:log.dirs=${b.dataDir},DEFAULT_CONFIG:log.dirs=./data`,
      "config log.retention.ms=7200000 source=DYNAMIC_DEFAULT_BROKER_CONFIG sensitive=false readOnly=false synonyms=DYNAMIC_DEFAULT_BROKER_CONFIG:log.retention.ms=7200000,DEFAULT_CONFIG:log.retention.hours=168",
    ]);
    expect((await admin(["--action", "describe-configs", "--type", "topic", "--name", "java-cfg", "--keys", "retention.ms"]))[0]).toStartWith("config retention.ms=7200000 source=DYNAMIC_DEFAULT_BROKER_CONFIG ");
    await admin(["--action", "alter-configs", "--type", "broker-default", "--delete", "log.retention.ms"]);
  }, 120_000);

  test("AdminClient DeleteRecords, ListOffsets (earliest, latest, earliest-local, latest-tiered, max timestamp), DescribeProducers, DescribeLogDirs", async () => {
    await runJava(["create-topic", "--bootstrap", b.bootstrap, "--topic", "java-dr", "--partitions", "1"]);
    await runJava(["produce", "--bootstrap", b.bootstrap, "--topic", "java-dr", "--count", "50", "--partitions", "1", "--acks", "all"]); // idempotent (the Java default)
    const one = async (args: string[]) => (await admin(["--topic", "java-dr", "--partition", "0", ...args]))[0];
    expect(await one(["--action", "delete-records", "--offset", "20"])).toBe("low-watermark java-dr 0 20");
    expect(await one(["--action", "delete-records", "--offset", "500"])).toStartWith("error delete-records OffsetOutOfRangeException: ");
    expect(await one(["--action", "list-offsets", "--spec", "earliest"])).toBe("offset earliest 20 epoch=0");
    expect(await one(["--action", "list-offsets", "--spec", "latest"])).toBe("offset latest 50 epoch=0");
    expect(await one(["--action", "list-offsets", "--spec", "earliest-local"])).toBe("offset earliest-local 20 epoch=0");
    expect(await one(["--action", "list-offsets", "--spec", "latest-tiered"])).toBe("offset latest-tiered -1 epoch=-"); // no S3 tier
    expect(await one(["--action", "list-offsets", "--spec", "max-timestamp"])).toBe("offset max-timestamp 49 epoch=0");
    expect(await one(["--action", "describe-producers"])).toMatch(/^producer \d+ epoch=0 lastSequence=49$/);
    const dirs = await admin(["--action", "log-dirs"]);
    expect(dirs[0]).toMatch(new RegExp(`^logdir 0 ${b.dataDir} total=\\d+ usable=\\d+$`));
    expect(dirs).toContainEqual(expect.stringMatching(/^replica java-dr-0 size=[1-9]\d*$/));
  }, 120_000);
});

describeWithPeer("confluent-kafka (python)", python, () => {
  const admin = async (args: string[]) => (await run([python.ok ? python.path : "python3", CLIENT, "admin", "--bootstrap", b.bootstrap, ...args], { timeoutMs: 60_000 })).trim().split("\n");

  test("AdminClient describe_configs, alter_configs (replaces the explicit configs), list_groups with a simple group", async () => {
    await createTopic("py-cfg", 1, { "retention.ms": "3600000", "max.message.bytes": "5000" });
    const described = await admin(["--action", "describe-configs", "--resource", "topic", "--name", "py-cfg"]);
    expect(described).toContainEqual("config retention.ms=3600000 source=1 sensitive=False readOnly=False");
    expect(described).toContainEqual("config cleanup.policy=delete source=5 sensitive=False readOnly=False");
    expect(await admin(["--action", "alter-configs", "--resource", "topic", "--name", "py-cfg", "--set", "retention.ms=60000"])).toEqual(["altered topic py-cfg"]);
    const after = await admin(["--action", "describe-configs", "--resource", "topic", "--name", "py-cfg"]);
    expect(after).toContainEqual("config retention.ms=60000 source=1 sensitive=False readOnly=False");
    expect(after).toContainEqual("config max.message.bytes=1048588 source=5 sensitive=False readOnly=False"); // AlterConfigs replaced it
    expect((await admin(["--action", "alter-configs", "--resource", "topic", "--name", "py-cfg", "--set", "retention.ms=soon"]))[0]).toContain("Invalid value soon for configuration retention.ms: Not a number of type LONG");
    const broker = await admin(["--action", "describe-configs", "--resource", "broker", "--name", "0"]);
    expect(broker).toContainEqual(`config log.dirs=${b.dataDir} source=4 sensitive=False readOnly=True`);
    await simpleCommit("py-simple", "py-cfg", 0n);
    expect(await admin(["--action", "list-groups"])).toContainEqual("group py-simple Empty ''");
  }, 120_000);
});

describe("KafkaJS admin", () => {
  let kafka: Kafka;
  let admin: Admin;
  beforeAll(async () => {
    kafka = new Kafka({ clientId: "klite-admin-test", brokers: [b.bootstrap], logLevel: logLevel.NOTHING, retry: { retries: 2 } });
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
  });

  test("describeConfigs (topic and broker), alterConfigs, deleteTopicRecords then fetchTopicOffsets, listGroups with a simple group", async () => {
    await createTopic("js-cfg", 2, { "cleanup.policy": "delete" });
    const d = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: "js-cfg", configNames: ["cleanup.policy", "retention.ms"] }], includeSynonyms: false });
    expect(d.resources[0]!.configEntries.map((e) => [e.configName, e.configValue, e.isDefault]).sort()).toEqual([["cleanup.policy", "delete", false], ["retention.ms", "604800000", true]]);
    await admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "js-cfg", configEntries: [{ name: "retention.ms", value: "120000" }] }] });
    const d2 = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: "js-cfg", configNames: ["retention.ms", "cleanup.policy"] }], includeSynonyms: false });
    expect(d2.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]).sort()).toEqual([["cleanup.policy", "delete"], ["retention.ms", "120000"]]);
    await expect(admin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: "js-cfg", configEntries: [{ name: "no.such", value: "1" }] }] })).rejects.toMatchObject({ type: "INVALID_CONFIG" }); // KafkaJS shows its own message for the code
    const broker = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.BROKER, name: "0", configNames: ["num.partitions"] }], includeSynonyms: false });
    expect(broker.resources[0]!.configEntries.map((e) => [e.configName, e.configValue, e.readOnly])).toEqual([["num.partitions", "1", true]]);

    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: "js-cfg", messages: Array.from({ length: 10 }, (_, i) => ({ partition: 0, value: `v${i}` })) });
    await producer.disconnect();
    await admin.deleteTopicRecords({ topic: "js-cfg", partitions: [{ partition: 0, offset: "4" }] });
    const offsets = await admin.fetchTopicOffsets("js-cfg");
    expect(offsets.find((o) => o.partition === 0)).toMatchObject({ low: "4", high: "10" });
    await expect(admin.deleteTopicRecords({ topic: "js-cfg", partitions: [{ partition: 0, offset: "99" }] })).rejects.toThrow("Error while deleting records");
    expect((await admin.fetchTopicOffsets("js-cfg")).find((o) => o.partition === 0)).toMatchObject({ low: "4", high: "10" });
    await simpleCommit("js-simple", "js-cfg", 4n);
    const groups = await admin.listGroups();
    expect(groups.groups).toContainEqual({ groupId: "js-simple", protocolType: "" });
    const described = await admin.describeGroups(["js-simple"]);
    expect(described.groups[0]).toMatchObject({ groupId: "js-simple", state: "Empty", protocolType: "", members: [] });
  }, 60_000);
});
