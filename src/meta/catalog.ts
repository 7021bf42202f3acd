// The topic catalog: topics (name, id, partition count, explicit configs), the broker's dynamic configs (topic
// defaults set with AlterConfigs on the broker, see broker-configs.ts) and producer-id blocks, kept in the
// metadata log. Every change is a record; it takes effect when the record is durable, and listeners (the log
// room) hear of it then. Validation happens before the record is written, so a change that reaches the log is
// always applicable.
import type { MetaOwner, MetadataLog } from "./metadata-log.ts";
import type { RawRecord } from "./records.ts";
import { CATALOG_RECORD_TYPES, decodeCatalogRecord, type CatalogRecord } from "./catalog-records.ts";
import { ZERO_UUID, type Uuid } from "../protocol/codec.ts";
import { BROKER_CONFIGS } from "./broker-configs.ts";
import { TopicConfigs, topicConfig, validateTopicConfigs } from "./topic-configs.ts";

export interface TopicMeta {
  name: string;
  id: Uuid;
  partitions: number;
  /** Explicitly set configs (defaults are not stored); topicConfig() resolves through what the broker sets. */
  configs: Map<string, string>;
}

export interface CatalogListener {
  topicCreated(t: TopicMeta): void;
  topicDeleted(t: TopicMeta): void;
  partitionsAdded(t: TopicMeta, previous: number): void;
  configsChanged(t: TopicMeta): void;
}

/** A request the catalog refuses; code is the Kafka error code to answer with. */
export class CatalogError extends Error {
  override name = "CatalogError";
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

const LEGAL = /^[a-zA-Z0-9._-]+$/;
export const MAX_TOPIC_NAME = 249;
const PRODUCER_ID_BLOCK = 1000;

/** Kafka's Topic.validate; returns the reason a name is illegal, or null. */
export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return "Topic name is illegal, it can't be empty";
  if (name === "." || name === "..") return "Topic name cannot be \".\" or \"..\"";
  if (name.length > MAX_TOPIC_NAME) return `Topic name is illegal, it can't be longer than ${MAX_TOPIC_NAME} characters, topic name: ${name}`;
  if (!LEGAL.test(name)) return `Topic name "${name}" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`;
  return null;
}

function randomTopicId(): Uuid {
  for (;;) {
    const b = crypto.getRandomValues(new Uint8Array(16));
    // Kafka avoids ids whose base64 form starts with '-' (first 6 bits all ones) and the zero/sentinel ids.
    if (b[0]! >> 2 === 0x3f) continue;
    const hex = Buffer.from(b).toString("hex");
    if (hex === ZERO_UUID || hex === "00000000000000000000000000000001") continue;
    return hex;
  }
}

const ERR = { TOPIC_ALREADY_EXISTS: 36, INVALID_TOPIC_EXCEPTION: 17, INVALID_PARTITIONS: 37, INVALID_CONFIG: 40, UNKNOWN_TOPIC_OR_PARTITION: 3, UNKNOWN_TOPIC_ID: 100, POLICY_VIOLATION: 44 } as const;

export class Catalog implements MetaOwner<CatalogRecord> {
  readonly types = CATALOG_RECORD_TYPES;
  private readonly byName = new Map<string, TopicMeta>();
  private readonly byId = new Map<Uuid, TopicMeta>();
  private readonly creating = new Map<string, Promise<TopicMeta>>();
  private readonly listeners: CatalogListener[] = [];
  private nextProducerId = 0;
  private producerIdLimit = 0;
  private producerIdBlock: Promise<void> | null = null;
  /** Dynamic broker configs by entity: this node's id, or "" for the cluster default. */
  private readonly brokerDynamic = new Map<string, ReadonlyMap<string, string>>();
  /** What topics inherit from the dynamic broker configs, by topic config name (shared by every TopicConfigs). */
  private readonly inherited = new Map<string, string>();
  private changes: Promise<void> = Promise.resolve();
  /** Partitions of every topic, and those of creations not yet durable (counted against the cap meanwhile). */
  private partitionCount = 0;
  private reservedPartitions = 0;

  constructor(
    private readonly meta: MetadataLog,
    /** This broker's id: its own dynamic configs win over the cluster default. */
    readonly nodeId = 0,
    /** --max-partitions: what all topics together may have (every partition costs memory). */
    private readonly maxPartitions = Infinity,
  ) {
    meta.register(this);
  }

  /** Partitions of all topics. */
  get totalPartitions(): number {
    return this.partitionCount;
  }

  /** Throws CatalogError (POLICY_VIOLATION) when `more` partitions would take the broker past --max-partitions. */
  checkPartitionCap(more: number): void {
    const after = this.partitionCount + this.reservedPartitions + more;
    if (after > this.maxPartitions) {
      throw new CatalogError(ERR.POLICY_VIOLATION, `Adding ${more} partitions would bring the broker to ${after}, more than --max-partitions ${this.maxPartitions}.`);
    }
  }

  /** Counts `n` partitions against the cap until the returned function is called (their record is durable or failed). */
  private reserve(n: number): () => void {
    this.reservedPartitions += n;
    return () => {
      this.reservedPartitions -= n;
    };
  }

  listen(l: CatalogListener): void {
    this.listeners.push(l);
  }

  // --- reads -----------------------------------------------------------------------------------------------

  topic(name: string): TopicMeta | undefined {
    return this.byName.get(name);
  }
  topicById(id: Uuid): TopicMeta | undefined {
    return this.byId.get(id);
  }
  all(): IterableIterator<TopicMeta> {
    return this.byName.values();
  }
  config(t: TopicMeta, name: string): string {
    return topicConfig(t.configs, name);
  }
  /** The dynamic configs set for `entity`: String(nodeId), or "" for the cluster default. */
  brokerConfigs(entity: string): ReadonlyMap<string, string> {
    return this.brokerDynamic.get(entity) ?? new Map();
  }
  /** Explicit configs as a topic holds them (inheriting the broker's dynamic topic defaults). */
  topicConfigs(entries: Iterable<readonly [string, string]>): TopicConfigs {
    return new TopicConfigs(entries, this.inherited);
  }

  // --- changes ---------------------------------------------------------------------------------------------

  /** Checks what createTopic would refuse, without writing anything. */
  validateNewTopic(name: string, partitions: number, configs: [string, string | null][]): void {
    const problem = topicNameProblem(name);
    if (problem) throw new CatalogError(ERR.INVALID_TOPIC_EXCEPTION, problem);
    if (this.byName.has(name) || this.creating.has(name)) throw new CatalogError(ERR.TOPIC_ALREADY_EXISTS, `Topic '${name}' already exists.`);
    const folded = name.replace(/\./g, "_");
    for (const other of this.byName.keys()) {
      if (other.replace(/\./g, "_") === folded) {
        throw new CatalogError(ERR.INVALID_TOPIC_EXCEPTION, `Topic '${name}' collides with existing topic: ${other}`);
      }
    }
    if (!Number.isInteger(partitions) || partitions < 1) throw new CatalogError(ERR.INVALID_PARTITIONS, `Number of partitions must be larger than 0.`);
    if (partitions > 100_000) throw new CatalogError(ERR.INVALID_PARTITIONS, `Number of partitions ${partitions} is more than klite allows per topic (100000).`);
    const cfgProblem = validateTopicConfigs(configs);
    if (cfgProblem) throw new CatalogError(ERR.INVALID_CONFIG, cfgProblem);
    this.checkPartitionCap(partitions);
  }

  /** Creates a topic; resolves once the record is durable. Concurrent creates of one name share the outcome. */
  createTopic(name: string, partitions: number, configs: [string, string | null][] = []): Promise<TopicMeta> {
    const pending = this.creating.get(name);
    if (pending) return pending;
    try {
      this.validateNewTopic(name, partitions, configs);
    } catch (e) {
      return Promise.reject(e);
    }
    const id = randomTopicId();
    const unreserve = this.reserve(partitions);
    const p = this.meta
      .append({ type: "topic", name, id, partitions, configs: Object.fromEntries(configs.filter((c): c is [string, string] => c[1] !== null)) })
      .then(() => this.byId.get(id)!)
      .finally(() => {
        unreserve();
        this.creating.delete(name);
      });
    this.creating.set(name, p);
    return p;
  }

  /** Like createTopic, but an existing topic (or one being created) is returned instead of refused. */
  ensureTopic(name: string, partitions: number): Promise<TopicMeta> {
    const t = this.byName.get(name);
    if (t) return Promise.resolve(t);
    return this.createTopic(name, partitions);
  }

  async deleteTopic(t: TopicMeta): Promise<void> {
    await this.meta.append({ type: "topic-deleted", id: t.id });
  }

  async createPartitions(t: TopicMeta, count: number): Promise<void> {
    if (count <= t.partitions) {
      throw new CatalogError(ERR.INVALID_PARTITIONS, `Topic currently has ${t.partitions} partitions, which is higher than the requested ${count}.`);
    }
    if (count > 100_000) throw new CatalogError(ERR.INVALID_PARTITIONS, `Number of partitions ${count} is more than klite allows per topic (100000).`);
    this.checkPartitionCap(count - t.partitions);
    const unreserve = this.reserve(count - t.partitions);
    try {
      await this.meta.append({ type: "partitions", id: t.id, partitions: count });
    } finally {
      unreserve();
    }
  }

  /** Replaces the explicit configs of a topic (AlterConfigs semantics). */
  async setConfigs(t: TopicMeta, configs: [string, string][]): Promise<void> {
    const problem = validateTopicConfigs(configs);
    if (problem) throw new CatalogError(ERR.INVALID_CONFIG, problem);
    await this.meta.append({ type: "topic-configs", id: t.id, configs: Object.fromEntries(configs) });
  }

  /** Runs config changes one at a time (each reads the current configs, then writes the new ones). */
  oneAtATime<T>(change: () => Promise<T>): Promise<T> {
    const run = this.changes.then(change, change);
    this.changes = run.then(() => undefined, () => undefined);
    return run;
  }

  /** Replaces the dynamic configs of a broker entity (validated by the caller, see configs.ts). */
  async setBrokerConfigs(entity: string, configs: ReadonlyMap<string, string>): Promise<void> {
    await this.meta.append({ type: "broker-configs", node: entity, configs: Object.fromEntries(configs) });
  }

  /** Recomputes what topics inherit from the broker and tells the listeners (every topic's configs changed). */
  private brokerConfigsChanged(): void {
    const mine = this.brokerConfigs(String(this.nodeId));
    const cluster = this.brokerConfigs("");
    this.inherited.clear();
    for (const [name, d] of BROKER_CONFIGS) {
      if (!d.dynamic || !d.topic) continue;
      const v = mine.get(name) ?? cluster.get(name);
      if (v !== undefined) this.inherited.set(d.topic, v);
    }
    for (const t of this.byName.values()) for (const l of this.listeners) l.configsChanged(t);
  }

  /** A fresh producer id. Ids are reserved in blocks so most calls write nothing. */
  async allocateProducerId(): Promise<number> {
    while (this.nextProducerId >= this.producerIdLimit) {
      if (!this.producerIdBlock) {
        const limit = this.producerIdLimit + PRODUCER_ID_BLOCK;
        this.producerIdBlock = this.meta.append({ type: "producer-ids", limit }).finally(() => {
          this.producerIdBlock = null;
        });
      }
      await this.producerIdBlock;
    }
    return this.nextProducerId++;
  }

  // --- MetaOwner ---------------------------------------------------------------------------------------------

  decode(raw: RawRecord): CatalogRecord {
    return decodeCatalogRecord(raw);
  }

  apply(rec: CatalogRecord): void {
    switch (rec.type) {
      case "topic": {
        const t: TopicMeta = { name: rec.name, id: rec.id, partitions: rec.partitions, configs: this.topicConfigs(Object.entries(rec.configs)) };
        if (this.byName.has(t.name) || this.byId.has(t.id)) return;
        this.byName.set(t.name, t);
        this.byId.set(t.id, t);
        this.partitionCount += t.partitions;
        for (const l of this.listeners) l.topicCreated(t);
        return;
      }
      case "topic-deleted": {
        const t = this.byId.get(rec.id);
        if (!t) return;
        this.byId.delete(t.id);
        this.byName.delete(t.name);
        this.partitionCount -= t.partitions;
        for (const l of this.listeners) l.topicDeleted(t);
        return;
      }
      case "topic-configs": {
        const t = this.byId.get(rec.id);
        if (!t) return;
        t.configs = this.topicConfigs(Object.entries(rec.configs));
        for (const l of this.listeners) l.configsChanged(t);
        return;
      }
      case "partitions": {
        const t = this.byId.get(rec.id);
        const n = rec.partitions;
        if (!t || n <= t.partitions) return;
        const previous = t.partitions;
        t.partitions = n;
        this.partitionCount += n - previous;
        for (const l of this.listeners) l.partitionsAdded(t, previous);
        return;
      }
      case "broker-configs": {
        if (Object.keys(rec.configs).length) this.brokerDynamic.set(rec.node, new Map(Object.entries(rec.configs)));
        else this.brokerDynamic.delete(rec.node);
        this.brokerConfigsChanged();
        return;
      }
      case "producer-ids": {
        const limit = rec.limit;
        if (limit > this.producerIdLimit) {
          // Ids below the previous limit may have been handed out before a restart: never reuse them.
          this.nextProducerId = Math.max(this.nextProducerId, this.producerIdLimit);
          this.producerIdLimit = limit;
        }
        return;
      }
    }
  }

  activate(): void {
    // Ids of every block reserved so far may have been handed out (before a restart, or by the primary this node
    // took over from): continue after the last block.
    this.nextProducerId = this.producerIdLimit;
  }

  snapshot(): CatalogRecord[] {
    const recs: CatalogRecord[] = [];
    for (const t of this.byName.values()) {
      recs.push({ type: "topic", name: t.name, id: t.id, partitions: t.partitions, configs: Object.fromEntries(t.configs) });
    }
    if (this.producerIdLimit > 0) recs.push({ type: "producer-ids", limit: this.producerIdLimit });
    for (const [node, configs] of this.brokerDynamic) recs.push({ type: "broker-configs", node, configs: Object.fromEntries(configs) });
    return recs;
  }
}
