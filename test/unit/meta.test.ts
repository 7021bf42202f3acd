import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, rmSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { MetadataLog, type MetaOwner } from "../../src/meta/metadata-log.ts";
import { int, type RawRecord } from "../../src/meta/records.ts";
import { Catalog, CatalogError, topicNameProblem } from "../../src/meta/catalog.ts";
import { loadOrCreateMetaProperties, MetaPropertiesError } from "../../src/meta/properties.ts";
import { silentLogger } from "../../src/logger.ts";
import { tempDir } from "../helpers/broker.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const dir = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};

interface Inc {
  type: "inc";
  by: number;
}

class Counter implements MetaOwner<Inc> {
  types = ["inc"] as const;
  value = 0;
  applied: number[] = [];
  decode(r: RawRecord): Inc {
    return { type: "inc", by: int(r, "by") };
  }
  apply(r: Inc) {
    this.value += r.by;
    this.applied.push(r.by);
  }
  snapshot(): Inc[] {
    return [{ type: "inc", by: this.value }];
  }
}

describe("metadata log", () => {
  test("records apply only once durable, replay in order, and survive a torn tail", async () => {
    const path = join(dir(), "metadata.log");
    const log = MetadataLog.open<Inc>(path, silentLogger);
    const c = new Counter();
    log.register(c);
    log.replay();
    const p = log.append({ type: "inc", by: 2 }, { type: "inc", by: 3 });
    expect(c.value).toBe(0); // not durable yet
    await p;
    expect(c.value).toBe(5);
    await log.append({ type: "inc", by: 10 });
    await log.close();
    appendFileSync(path, new Uint8Array([0, 0, 0, 50, 1, 2, 3])); // a torn record
    const again = MetadataLog.open<Inc>(path, silentLogger);
    const c2 = new Counter();
    again.register(c2);
    expect(again.replay()).toBe(3);
    expect(c2.applied).toEqual([2, 3, 10]);
    await again.append({ type: "inc", by: 1 });
    await again.close();
    const third = MetadataLog.open<Inc>(path, silentLogger);
    const c3 = new Counter();
    third.register(c3);
    third.replay();
    expect(c3.value).toBe(16);
    await third.close();
  });

  test("compaction rewrites the file as the owners' snapshots", async () => {
    const path = join(dir(), "metadata.log");
    const log = MetadataLog.open<Inc>(path, silentLogger);
    const c = new Counter();
    log.register(c);
    log.replay();
    for (let i = 0; i < 100; i++) await log.append({ type: "inc", by: 1 });
    const before = statSync(path).size;
    log.compact();
    expect(statSync(path).size).toBeLessThan(before / 10);
    await log.append({ type: "inc", by: 5 });
    await log.close();
    const again = MetadataLog.open<Inc>(path, silentLogger);
    const c2 = new Counter();
    again.register(c2);
    again.replay();
    expect(c2.applied).toEqual([100, 5]);
    await again.close();
  });

  test("a write failure rejects the append and applies nothing", async () => {
    const path = join(dir(), "metadata.log");
    const log = MetadataLog.open<Inc>(path, silentLogger);
    const c = new Counter();
    log.register(c);
    log.replay();
    (log as unknown as { fd: number }).fd = 999999;
    await expect(log.append({ type: "inc", by: 1 })).rejects.toThrow(/metadata log write failed/);
    expect(c.value).toBe(0);
  });
});

describe("catalog", () => {
  test("topics, partitions, configs and producer ids persist across reopen", async () => {
    const path = join(dir(), "metadata.log");
    const log = MetadataLog.open(path, silentLogger);
    const cat = new Catalog(log);
    log.replay();
    const t = await cat.createTopic("orders", 3, [["retention.ms", "1000"]]);
    expect(t.id).toMatch(/^[0-9a-f]{32}$/);
    await cat.createPartitions(t, 5);
    await cat.setConfigs(t, [["cleanup.policy", "compact"]]);
    const ids = [await cat.allocateProducerId(), await cat.allocateProducerId()];
    expect(ids).toEqual([0, 1]);
    await expect(cat.createTopic("orders", 1)).rejects.toBeInstanceOf(CatalogError);
    await expect(cat.createTopic("orders_x", 0)).rejects.toThrow(/larger than 0/);
    await cat.createTopic("gone", 1);
    await cat.deleteTopic(cat.topic("gone")!);
    await log.close();

    const log2 = MetadataLog.open(path, silentLogger);
    const cat2 = new Catalog(log2);
    log2.replay();
    log2.activate(); // as a broker does before it serves
    const t2 = cat2.topic("orders")!;
    expect(t2.id).toBe(t.id);
    expect(t2.partitions).toBe(5);
    expect([...t2.configs]).toEqual([["cleanup.policy", "compact"]]);
    expect(cat2.topic("gone")).toBeUndefined();
    expect(await cat2.allocateProducerId()).toBeGreaterThan(1); // never reused after a restart
    await log2.close();
  });

  test("names: Kafka's rules, including the '.'/'_' collision", async () => {
    expect(topicNameProblem("ok.name_1-x")).toBeNull();
    for (const bad of ["", ".", "..", "a b", "x".repeat(250), "ü"]) expect(topicNameProblem(bad)).not.toBeNull();
    const log = MetadataLog.open(join(dir(), "m.log"), silentLogger);
    const cat = new Catalog(log);
    log.replay();
    await cat.createTopic("a.b", 1);
    await expect(cat.createTopic("a_b", 1)).rejects.toThrow(/collides/);
    await log.close();
  });

  test("concurrent creates of one name share one topic", async () => {
    const log = MetadataLog.open(join(dir(), "m.log"), silentLogger);
    const cat = new Catalog(log);
    log.replay();
    const [a, b] = await Promise.all([cat.ensureTopic("t", 2), cat.ensureTopic("t", 2)]);
    expect(a.id).toBe(b.id);
    await log.close();
  });
});

describe("meta.properties", () => {
  test("created once, then a different cluster or node id is refused", () => {
    const d = dir();
    const a = loadOrCreateMetaProperties(d, { clusterId: null, nodeId: 0 });
    expect(a.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(loadOrCreateMetaProperties(d, { clusterId: null, nodeId: 0 })).toEqual(a);
    expect(() => loadOrCreateMetaProperties(d, { clusterId: "other", nodeId: 0 })).toThrow(MetaPropertiesError);
    expect(() => loadOrCreateMetaProperties(d, { clusterId: null, nodeId: 3 })).toThrow(/node-id/);
    expect(readFileSync(join(d, "meta.properties"), "utf8")).toContain(`cluster.id=${a.clusterId}`);
    truncateSync(join(d, "meta.properties"), 3);
    expect(() => loadOrCreateMetaProperties(d, { clusterId: null, nodeId: 0 })).toThrow(/missing/);
  });
});
