// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs over the wire: values, sources and synonyms as Apache
// Kafka 4.x reports them, every operation, validateOnly, Kafka's error codes and messages for bad input, changes
// that survive a restart, and changes that take effect on the next produce.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { buildBatch, decodeRecords } from "../../src/protocol/records.ts";

const TOPIC = 2;
const BROKER = 4;
const [SET, DELETE, APPEND, SUBTRACT] = [0, 1, 2, 3];
const SRC = { TOPIC: 1, BROKER: 2, CLUSTER: 3, STATIC: 4, DEFAULT: 5 };

let b: TestBroker;
let c: RawClient;
const enc = new TextEncoder();

interface Entry { name: string; value: string | null; readOnly: boolean; configSource: number; isSensitive: boolean; isDefault?: boolean; synonyms: { name: string; value: string | null; source: number }[]; configType: number; documentation: string | null }

async function describeConfigs(type: number, name: string, keys: string[] | null = null, opts: { synonyms?: boolean; docs?: boolean; version?: number } = {}) {
  const r = await c.request(32, opts.version ?? 4, { resources: [{ resourceType: type, resourceName: name, configurationKeys: keys }], includeSynonyms: opts.synonyms ?? true, includeDocumentation: opts.docs ?? false });
  return r.results[0] as { errorCode: number; errorMessage: string | null; configs: Entry[] };
}

async function entry(type: number, name: string, key: string): Promise<Entry> {
  const r = await describeConfigs(type, name, [key]);
  expect(r.errorCode).toBe(0);
  return r.configs[0]!;
}

async function incremental(type: number, name: string, configs: [string, number, string | null][], validateOnly = false) {
  const r = await c.request(44, 1, { resources: [{ resourceType: type, resourceName: name, configs: configs.map(([n, op, value]) => ({ name: n, configOperation: op, value })) }], validateOnly });
  return r.responses[0] as { errorCode: number; errorMessage: string | null };
}

async function legacy(type: number, name: string, configs: [string, string | null][], validateOnly = false) {
  const r = await c.request(33, 2, { resources: [{ resourceType: type, resourceName: name, configs: configs.map(([n, value]) => ({ name: n, value })) }], validateOnly });
  return r.responses[0] as { errorCode: number; errorMessage: string | null };
}

async function createTopic(name: string, configs: [string, string][] = []) {
  const r = await c.request(19, 7, { topics: [{ name, numPartitions: 1, replicationFactor: 1, assignments: [], configs: configs.map(([n, value]) => ({ name: n, value })) }], timeoutMs: 5000 });
  expect(r.topics[0].errorCode).toBe(0);
}

async function produce(topic: string, valueBytes: number, timestamp?: number) {
  const batch = buildBatch([{ key: enc.encode("k"), value: new Uint8Array(valueBytes).fill(120), timestamp }]);
  const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: topic, partitionData: [{ index: 0, records: batch }] }] });
  return r.responses[0].partitionResponses[0] as { errorCode: number; baseOffset: bigint; logAppendTimeMs: bigint };
}

beforeAll(async () => {
  b = await startBroker({ autoCreateTopics: false });
  c = await RawClient.connect(b.port);
  await createTopic("cfg", [["retention.ms", "1000000"], ["cleanup.policy", "compact,delete"]]);
});

afterAll(async () => {
  c.close();
  await b.stop();
  b.cleanup();
});

describe("DescribeConfigs", () => {
  test("a topic: every Kafka topic config, explicit ones DYNAMIC_TOPIC_CONFIG with their broker synonyms, the rest defaults", async () => {
    const r = await describeConfigs(TOPIC, "cfg");
    expect(r.errorCode).toBe(0);
    const names = r.configs.map((e) => e.name);
    expect(names).toEqual([...names].sort());
    for (const n of ["cleanup.policy", "retention.ms", "retention.bytes", "max.message.bytes", "message.timestamp.type", "min.insync.replicas", "segment.bytes", "compression.type"]) expect(names).toContain(n);
    const by = new Map(r.configs.map((e) => [e.name, e]));
    expect(by.get("cleanup.policy")).toMatchObject({ value: "compact,delete", configSource: SRC.TOPIC, readOnly: false, isSensitive: false, configType: 7 });
    expect(by.get("cleanup.policy")!.synonyms).toEqual([{ name: "cleanup.policy", value: "compact,delete", source: SRC.TOPIC }, { name: "log.cleanup.policy", value: "delete", source: SRC.DEFAULT }]);
    // Kafka lists no DEFAULT_CONFIG synonym for retention.ms: its first broker synonym (log.retention.ms) has no default.
    expect(by.get("retention.ms")).toMatchObject({ value: "1000000", configSource: SRC.TOPIC, configType: 5, synonyms: [{ name: "retention.ms", value: "1000000", source: SRC.TOPIC }] });
    expect(by.get("max.message.bytes")).toMatchObject({ value: "1048588", configSource: SRC.DEFAULT, configType: 3, synonyms: [{ name: "message.max.bytes", value: "1048588", source: SRC.DEFAULT }] });
    expect(by.get("message.timestamp.after.max.ms")!.value).toBe("3600000"); // Kafka 4's default
  });

  test("chosen keys only (unknown ones left out), documentation on request, no synonyms unless asked", async () => {
    const r = await describeConfigs(TOPIC, "cfg", ["retention.ms", "no.such.key"], { synonyms: false, docs: true });
    expect(r.configs.map((e) => e.name)).toEqual(["retention.ms"]);
    expect(r.configs[0]!.synonyms).toEqual([]);
    expect(r.configs[0]!.documentation).toContain("retention");
  });

  test("v0 answers isDefault instead of a source", async () => {
    const r = await describeConfigs(TOPIC, "cfg", ["retention.ms", "retention.bytes"], { version: 0 });
    expect(r.configs.map((e) => [e.name, e.isDefault])).toEqual([["retention.bytes", true], ["retention.ms", false]]);
  });

  test("the broker: klite's flags under Kafka's names (read-only), the topic defaults (dynamic), static values named as such", async () => {
    const r = await describeConfigs(BROKER, "0");
    expect(r.errorCode).toBe(0);
    const by = new Map(r.configs.map((e) => [e.name, e]));
    expect(by.get("log.dirs")).toMatchObject({ value: b.dataDir, readOnly: true, configSource: SRC.STATIC });
    expect(by.get("log.dirs")!.synonyms).toEqual([{ name: "log.dirs", value: b.dataDir, source: SRC.STATIC }, { name: "log.dirs", value: "./data", source: SRC.DEFAULT }]);
    expect(by.get("num.partitions")).toMatchObject({ value: "1", readOnly: true, configSource: SRC.DEFAULT });
    expect(by.get("node.id")).toMatchObject({ value: "0", readOnly: true, configSource: SRC.STATIC });
    expect(by.get("log.retention.ms")).toMatchObject({ value: null, readOnly: false, configSource: SRC.DEFAULT, synonyms: [] });
    expect(by.get("log.retention.hours")).toMatchObject({ value: "168", readOnly: true, configSource: SRC.DEFAULT });
    expect(by.get("message.max.bytes")).toMatchObject({ value: "1048588", readOnly: false });
    expect(by.get("socket.request.max.bytes")!.value).toBe(String(b.config.maxRequestSize));
  });

  test("bad resources: an unknown topic, an invalid topic name, another broker's id, a broker id that is not a number", async () => {
    expect(await describeConfigs(TOPIC, "nope")).toMatchObject({ errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, configs: [] });
    expect((await describeConfigs(TOPIC, "a/b")).errorCode).toBe(ErrorCode.INVALID_TOPIC_EXCEPTION);
    expect(await describeConfigs(BROKER, "7")).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "Unexpected broker id, expected 0 or empty string, but received 7" });
    expect(await describeConfigs(BROKER, "x")).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "Broker id must be an integer, but it is: x" });
  });
});

describe("IncrementalAlterConfigs and AlterConfigs", () => {
  test("SET, DELETE, APPEND and SUBTRACT on a topic; validateOnly changes nothing", async () => {
    await createTopic("inc");
    expect(await incremental(TOPIC, "inc", [["retention.ms", SET, "5000"]], true)).toMatchObject({ errorCode: 0 });
    expect((await entry(TOPIC, "inc", "retention.ms")).value).toBe("604800000");
    expect(await incremental(TOPIC, "inc", [["retention.ms", SET, "5000"], ["cleanup.policy", APPEND, "compact"]])).toMatchObject({ errorCode: 0 });
    expect((await entry(TOPIC, "inc", "retention.ms")).value).toBe("5000");
    expect((await entry(TOPIC, "inc", "cleanup.policy")).value).toBe("delete,compact"); // appended to the default
    expect(await incremental(TOPIC, "inc", [["cleanup.policy", SUBTRACT, "delete"]])).toMatchObject({ errorCode: 0 });
    expect((await entry(TOPIC, "inc", "cleanup.policy")).value).toBe("compact");
    expect(await incremental(TOPIC, "inc", [["leader.replication.throttled.replicas", APPEND, "0:0"], ["leader.replication.throttled.replicas", APPEND, "x"]])).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "Error due to duplicate config keys" });
    expect(await incremental(TOPIC, "inc", [["retention.ms", DELETE, null], ["never.set", DELETE, null]])).toMatchObject({ errorCode: 0 });
    expect(await entry(TOPIC, "inc", "retention.ms")).toMatchObject({ value: "604800000", configSource: SRC.DEFAULT });
  });

  test("AlterConfigs replaces every explicit config of the topic", async () => {
    await createTopic("legacy", [["retention.ms", "1000"], ["max.message.bytes", "5000"]]);
    expect(await legacy(TOPIC, "legacy", [["retention.bytes", "123456"]])).toMatchObject({ errorCode: 0 });
    const r = await describeConfigs(TOPIC, "legacy");
    expect(r.configs.filter((e) => e.configSource === SRC.TOPIC).map((e) => [e.name, e.value])).toEqual([["retention.bytes", "123456"]]);
  });

  test("bad input gets Kafka's codes and messages, and changes nothing", async () => {
    const cases: [() => Promise<{ errorCode: number; errorMessage: string | null }>, number, string][] = [
      [() => incremental(TOPIC, "cfg", [["no.such.config", SET, "1"]]), ErrorCode.INVALID_CONFIG, "Unknown topic config name: no.such.config"],
      [() => incremental(TOPIC, "cfg", [["retention.ms", SET, "abc"]]), ErrorCode.INVALID_CONFIG, "Invalid value abc for configuration retention.ms: Not a number of type LONG"],
      [() => incremental(TOPIC, "cfg", [["retention.ms", SET, "-5"]]), ErrorCode.INVALID_CONFIG, "Invalid value -5 for configuration retention.ms: Value must be at least -1"],
      [() => incremental(TOPIC, "cfg", [["cleanup.policy", SET, "compact,nonsense"]]), ErrorCode.INVALID_CONFIG, "Invalid value nonsense for configuration cleanup.policy: String must be one of: compact, delete"],
      [() => incremental(TOPIC, "cfg", [["message.timestamp.type", SET, "Foo"]]), ErrorCode.INVALID_CONFIG, "Invalid value Foo for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"],
      [() => incremental(TOPIC, "cfg", [["max.message.bytes", SET, "99999999999"]]), ErrorCode.INVALID_CONFIG, "Invalid value 99999999999 for configuration max.message.bytes: Not a number of type INT"],
      [() => incremental(TOPIC, "cfg", [["segment.bytes", SET, "1000"]]), ErrorCode.INVALID_CONFIG, "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576"],
      [() => incremental(TOPIC, "cfg", [["retention.ms", APPEND, "5"]]), ErrorCode.INVALID_CONFIG, "Can't APPEND to key retention.ms because its type is not LIST."],
      [() => incremental(TOPIC, "cfg", [["retention.ms", SET, null]]), ErrorCode.INVALID_REQUEST, "Null value not supported for : retention.ms"],
      [() => incremental(TOPIC, "missing", [["retention.ms", SET, "5"]]), ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The topic 'missing' does not exist."],
      [() => legacy(TOPIC, "cfg", [["retention.ms", "5"], ["bogus", "1"]]), ErrorCode.INVALID_CONFIG, "Unknown topic config name: bogus"],
      [() => incremental(BROKER, "0", [["num.partitions", SET, "3"], ["log.dirs", SET, "/x"]]), ErrorCode.INVALID_REQUEST, "Cannot update these configs dynamically: [num.partitions, log.dirs]"],
      [() => incremental(BROKER, "0", [["message.max.bytes", SET, "abc"]]), ErrorCode.INVALID_REQUEST, "Invalid value abc for configuration message.max.bytes: Not a number of type INT"],
      [() => incremental(BROKER, "7", [["log.retention.ms", SET, "1"]]), ErrorCode.INVALID_REQUEST, "Unexpected broker id, expected 0, but received 7"],
    ];
    for (const [run, code, message] of cases) expect(await run()).toMatchObject({ errorCode: code, errorMessage: message });
    const r = await describeConfigs(TOPIC, "cfg");
    expect(r.configs.filter((e) => e.configSource === SRC.TOPIC).map((e) => [e.name, e.value])).toEqual([["cleanup.policy", "compact,delete"], ["retention.ms", "1000000"]]);
  });

  test("names klite does not know are kept on the broker, up to a bound", async () => {
    const many = Array.from({ length: 257 }, (_, i): [string, number, string] => [`plugin.setting.${i}`, SET, "x"]);
    expect(await incremental(BROKER, "0", many)).toMatchObject({ errorCode: ErrorCode.INVALID_REQUEST, errorMessage: "klite keeps at most 256 broker configs it does not know (they have no effect); this change would make 257" });
    expect(await incremental(BROKER, "0", many.slice(0, 2))).toMatchObject({ errorCode: 0 });
    expect((await describeConfigs(BROKER, "0", ["plugin.setting.1"])).configs).toEqual([expect.objectContaining({ name: "plugin.setting.1", value: null, isSensitive: true, configSource: SRC.BROKER })]);
    expect(await incremental(BROKER, "0", [["plugin.setting.0", DELETE, null], ["plugin.setting.1", DELETE, null]])).toMatchObject({ errorCode: 0 });
  });

  test("the same resource twice in one request is refused for both", async () => {
    const r = await c.request(44, 1, { resources: [0, 1].map(() => ({ resourceType: TOPIC, resourceName: "cfg", configs: [{ name: "retention.ms", configOperation: SET, value: "1" }] })), validateOnly: false });
    expect(r.responses.map((x: { errorCode: number; errorMessage: string }) => [x.errorCode, x.errorMessage])).toEqual([[ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."], [ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."]]);
  });
});

describe("broker configs are topic defaults, applied at once, and survive a restart", () => {
  test("a per-broker message.max.bytes and a cluster-default retention.bytes flow into topics without their own value", async () => {
    await createTopic("inherits");
    expect((await produce("inherits", 3000)).errorCode).toBe(0);
    expect(await incremental(BROKER, "0", [["message.max.bytes", SET, "2000"]])).toMatchObject({ errorCode: 0 });
    expect(await incremental(BROKER, "", [["log.retention.bytes", SET, "1000000"], ["custom.plugin.secret", SET, "hunter2"]])).toMatchObject({ errorCode: 0 });
    expect((await produce("inherits", 3000)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE); // the next produce
    expect((await produce("inherits", 100)).errorCode).toBe(0);
    expect(await entry(TOPIC, "inherits", "max.message.bytes")).toMatchObject({ value: "2000", configSource: SRC.BROKER, synonyms: [{ name: "message.max.bytes", value: "2000", source: SRC.BROKER }, { name: "message.max.bytes", value: "1048588", source: SRC.DEFAULT }] });
    expect(await entry(TOPIC, "inherits", "retention.bytes")).toMatchObject({ value: "1000000", configSource: SRC.CLUSTER });
    // An explicit topic value wins over the broker's.
    await createTopic("own-limit", [["max.message.bytes", "10000"]]);
    expect((await produce("own-limit", 3000)).errorCode).toBe(0);
    // The cluster default entity lists what is set there; names klite does not know are kept but hidden (Kafka's rule).
    const d = await describeConfigs(BROKER, "");
    expect(d.configs.map((e) => [e.name, e.value, e.isSensitive, e.configSource])).toEqual([["custom.plugin.secret", null, true, SRC.CLUSTER], ["log.retention.bytes", "1000000", false, SRC.CLUSTER]]);

    c.close();
    b = await b.restart();
    c = await RawClient.connect(b.port);
    expect((await produce("inherits", 3000)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    expect((await entry(BROKER, "0", "message.max.bytes")).configSource).toBe(SRC.BROKER);
    expect(await incremental(BROKER, "0", [["message.max.bytes", DELETE, null]])).toMatchObject({ errorCode: 0 });
    expect((await produce("inherits", 3000)).errorCode).toBe(0);
  });

  test("max.message.bytes and message.timestamp.type altered on a topic hold for its next produce", async () => {
    await createTopic("alter-effect");
    expect((await produce("alter-effect", 5000)).errorCode).toBe(0);
    expect(await incremental(TOPIC, "alter-effect", [["max.message.bytes", SET, "1000"]])).toMatchObject({ errorCode: 0 });
    expect((await produce("alter-effect", 5000)).errorCode).toBe(ErrorCode.MESSAGE_TOO_LARGE);
    const old = Date.now() - 86_400_000;
    expect(await incremental(TOPIC, "alter-effect", [["message.timestamp.type", SET, "LogAppendTime"]])).toMatchObject({ errorCode: 0 });
    const before = Date.now();
    const p = await produce("alter-effect", 10, old);
    expect(p.errorCode).toBe(0);
    expect(Number(p.logAppendTimeMs)).toBeGreaterThanOrEqual(before);
    const f = await c.request(1, 12, { replicaId: -1, maxWaitMs: 0, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, sessionId: 0, sessionEpoch: -1, topics: [{ topic: "alter-effect", partitions: [{ partition: 0, currentLeaderEpoch: -1, fetchOffset: p.baseOffset, lastFetchedEpoch: -1, logStartOffset: -1n, partitionMaxBytes: 1 << 20 }] }], forgottenTopicsData: [], rackId: "" });
    const recs = decodeRecords(f.responses[0].partitions[0].records);
    expect(recs[0]!.timestamp).toBe(Number(p.logAppendTimeMs));
  });

  test("message.timestamp.before.max.ms and cleanup.policy altered on a topic hold for its next produce", async () => {
    await createTopic("ts-rules");
    const dayAgo = Date.now() - 86_400_000;
    expect((await produce("ts-rules", 10, dayAgo)).errorCode).toBe(0);
    expect(await incremental(TOPIC, "ts-rules", [["message.timestamp.before.max.ms", SET, "3600000"]])).toMatchObject({ errorCode: 0 });
    expect((await produce("ts-rules", 10, dayAgo)).errorCode).toBe(ErrorCode.INVALID_TIMESTAMP);
    expect((await produce("ts-rules", 10)).errorCode).toBe(0);
    expect(await incremental(TOPIC, "ts-rules", [["message.timestamp.before.max.ms", DELETE, null]])).toMatchObject({ errorCode: 0 });
    expect((await produce("ts-rules", 10, dayAgo)).errorCode).toBe(0);
    // A keyless record is refused once the topic is compacted (produce() sends a key, so build one without).
    expect(await incremental(TOPIC, "ts-rules", [["cleanup.policy", SET, "compact"]])).toMatchObject({ errorCode: 0 });
    const keyless = buildBatch([{ key: null, value: enc.encode("no key") }]);
    const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 5000, topicData: [{ name: "ts-rules", partitionData: [{ index: 0, records: keyless }] }] });
    expect(r.responses[0].partitionResponses[0].errorCode).toBe(ErrorCode.INVALID_RECORD);
  });
});
