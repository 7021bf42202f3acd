// DescribeConfigs, AlterConfigs and IncrementalAlterConfigs as operations on the catalog, for topics and for the
// broker, with Apache Kafka's resolution (explicit topic value, else this broker's dynamic value, else the cluster
// default, else the static flag, else the default), synonyms, sources, and Kafka's validation and error messages.
// The handlers only map resources in and results out. Changes are written to the metadata log and take effect when
// durable: appends re-read a topic's configs on every change, retention and compaction on every check.
import { ErrorCode } from "../protocol/errors.ts";
import { CatalogError, topicNameProblem, type Catalog, type TopicMeta } from "./catalog.ts";
import { MetaLogError } from "./metadata-log.ts";
import {
  BROKER_CONFIGS, ConfigSource, DEFAULT_BROKER_VALUES, brokerValueProblem, staticConfigs, synonymsOf,
  type BrokerFacts, type BrokerLayers, type Synonym,
} from "./broker-configs.ts";
import { ConfigType, TOPIC_CONFIGS, invalidValue, listElements, topicConfig } from "./topic-configs.ts";

export { ConfigSource };

/** DescribeConfigs / AlterConfigs resource types klite answers. */
export const ResourceType = { TOPIC: 2, BROKER: 4, BROKER_LOGGER: 8 } as const;

/** IncrementalAlterConfigs operations. */
export const AlterOp = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;
const OP_NAMES = ["SET", "DELETE", "APPEND", "SUBTRACT"];

export interface ConfigEntry {
  name: string;
  value: string | null;
  readOnly: boolean;
  source: number;
  isSensitive: boolean;
  synonyms: Synonym[];
  type: number;
  doc: string;
}

/** A resource or a change refused; `code` is the Kafka error code the response carries. */
export class ConfigRefused extends Error {
  override name = "ConfigRefused";
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export type ConfigResource = { kind: "topic"; topic: TopicMeta } | { kind: "broker"; entity: string };

export interface ConfigOp {
  name: string;
  op: number;
  value: string | null;
}

/** What describing needs of the running broker. */
export interface ConfigContext extends BrokerFacts {
  catalog: Catalog;
}

/** Finds the resource a request names, or refuses it as Kafka does. */
export function resolveResource(ctx: ConfigContext, type: number, name: string, altering: boolean): ConfigResource {
  if (type === ResourceType.TOPIC) {
    const problem = topicNameProblem(name);
    if (problem) throw new ConfigRefused(ErrorCode.INVALID_TOPIC_EXCEPTION, `Topic name is invalid: ${problem}`);
    const topic = ctx.catalog.topic(name);
    if (!topic) throw new ConfigRefused(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, altering ? `The topic '${name}' does not exist.` : "");
    return { kind: "topic", topic };
  }
  if (type === ResourceType.BROKER) {
    if (name === "") return { kind: "broker", entity: "" };
    if (!/^-?\d+$/.test(name)) throw new ConfigRefused(ErrorCode.INVALID_REQUEST, `Broker id must be an integer, but it is: ${name}`);
    if (Number(name) !== ctx.nodeId) {
      throw new ConfigRefused(ErrorCode.INVALID_REQUEST, `Unexpected broker id, expected ${ctx.nodeId}${altering ? "" : " or empty string"}, but received ${name}`);
    }
    return { kind: "broker", entity: String(ctx.nodeId) };
  }
  if (type === ResourceType.BROKER_LOGGER) {
    throw new ConfigRefused(ErrorCode.INVALID_REQUEST, "klite has no broker loggers to configure; its log level is --log-level");
  }
  throw new ConfigRefused(ErrorCode.INVALID_REQUEST, `klite does not have configs of resource type ${type} (topics: 2, brokers: 4)`);
}

function layers(ctx: ConfigContext): BrokerLayers {
  return {
    broker: ctx.catalog.brokerConfigs(String(ctx.nodeId)),
    clusterDefault: ctx.catalog.brokerConfigs(""),
    static: staticConfigs(ctx),
    defaults: DEFAULT_BROKER_VALUES,
  };
}

const wanted = (keys: readonly string[] | null) => (name: string) => keys === null || keys.length === 0 || keys.includes(name);

/** The configs of a resource, sorted by name; `keys` (null or empty: all) picks some, unknown keys are left out. */
export function describeResource(ctx: ConfigContext, r: ConfigResource, keys: readonly string[] | null): ConfigEntry[] {
  const pick = wanted(keys);
  const l = layers(ctx);
  const out: ConfigEntry[] = [];
  if (r.kind === "topic") {
    const explicit = r.topic.configs;
    for (const [name, d] of TOPIC_CONFIGS) {
      if (!pick(name)) continue;
      const synonyms = d.synonyms.length ? synonymsOf(d.synonyms, d.synonyms[0]!, l) : [];
      const own = explicit.get(name);
      if (own !== undefined) synonyms.unshift({ name, value: own, source: ConfigSource.DYNAMIC_TOPIC_CONFIG });
      out.push({
        name, value: topicConfig(explicit, name), readOnly: false, isSensitive: false, synonyms,
        source: synonyms[0]?.source ?? ConfigSource.DEFAULT_CONFIG, type: ConfigType[d.type], doc: d.doc,
      });
    }
  } else if (r.entity === "") {
    // The cluster default entity shows what is set there and nothing else (as Kafka does).
    for (const [name, v] of l.clusterDefault) if (pick(name)) out.push(dynamicEntry(name, v, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG));
  } else {
    for (const [name, d] of BROKER_CONFIGS) {
      if (!pick(name)) continue;
      const synonyms = synonymsOf(d.group, name, l);
      const value = l.broker.get(name) ?? l.clusterDefault.get(name) ?? l.static.get(name) ?? l.defaults.get(name) ?? null;
      out.push({ name, value, readOnly: !d.dynamic, isSensitive: false, synonyms, source: synonyms[0]?.source ?? ConfigSource.DEFAULT_CONFIG, type: ConfigType[d.type], doc: d.doc });
    }
    // Names klite does not know, set by a client: kept, shown without their value.
    for (const [map, source] of [[l.broker, ConfigSource.DYNAMIC_BROKER_CONFIG], [l.clusterDefault, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG]] as const) {
      for (const [name, v] of map) {
        if (!BROKER_CONFIGS.has(name) && pick(name) && !out.some((e) => e.name === name)) out.push(dynamicEntry(name, v, source));
      }
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function dynamicEntry(name: string, v: string, source: number): ConfigEntry {
  const d = BROKER_CONFIGS.get(name);
  const value = d ? v : null; // Kafka hides the values of configs it does not know: they may be secrets
  return { name, value, readOnly: !d?.dynamic, isSensitive: !d, synonyms: [{ name, value, source }], source, type: d ? ConfigType[d.type] : ConfigType.UNKNOWN, doc: d?.doc ?? "" };
}

const refuse = (code: number, message: string) => new ConfigRefused(code, message);

function isList(r: ConfigResource, name: string): boolean {
  return (r.kind === "topic" ? TOPIC_CONFIGS.get(name)?.type : BROKER_CONFIGS.get(name)?.type) === "LIST";
}

/**
 * The explicit configs of the resource after the change: IncrementalAlterConfigs applies each op to the current
 * ones; AlterConfigs (incremental false) replaces them all with the SETs given. Throws ConfigRefused with Kafka's
 * code and message for anything Kafka refuses.
 */
export function alteredConfigs(ctx: ConfigContext, r: ConfigResource, ops: readonly ConfigOp[], incremental: boolean): Map<string, string> {
  const names = new Set<string>();
  for (const o of ops) {
    if (names.has(o.name)) throw refuse(ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys");
    names.add(o.name);
    if (o.op < 0 || o.op > 3) throw refuse(ErrorCode.INVALID_REQUEST, `Unknown alter config operation ${o.op} for config ${o.name}`);
    if (o.op !== AlterOp.DELETE && o.value === null) throw refuse(ErrorCode.INVALID_REQUEST, `Null value not supported for : ${o.name}`);
  }
  const current = r.kind === "topic" ? r.topic.configs : ctx.catalog.brokerConfigs(r.entity);
  const next = new Map<string, string>(incremental ? current : []);
  for (const o of ops) {
    if (o.op === AlterOp.DELETE) {
      next.delete(o.name);
      continue;
    }
    let value = o.value!;
    if (o.op === AlterOp.APPEND || o.op === AlterOp.SUBTRACT) {
      if (!isList(r, o.name)) throw refuse(ErrorCode.INVALID_CONFIG, `Can't ${OP_NAMES[o.op]} to key ${o.name} because its type is not LIST.`);
      const old = listElements(next.get(o.name) ?? (r.kind === "topic" ? topicConfig(r.topic.configs, o.name) : (BROKER_CONFIGS.get(o.name)?.default ?? "")));
      const given = value.split(",").map((s) => s.trim());
      value = (o.op === AlterOp.APPEND ? [...old, ...given.filter((g) => !old.includes(g))] : old.filter((e) => !given.includes(e))).join(",");
    }
    next.set(o.name, value);
  }
  if (r.kind === "topic") checkTopic(ops, next);
  else checkBroker(ops, next);
  return next;
}

function checkTopic(ops: readonly ConfigOp[], next: ReadonlyMap<string, string>): void {
  for (const o of ops) {
    if (o.op !== AlterOp.DELETE && !TOPIC_CONFIGS.has(o.name)) throw refuse(ErrorCode.INVALID_CONFIG, `Unknown topic config name: ${o.name}`);
  }
  for (const o of ops) {
    const v = next.get(o.name);
    if (o.op === AlterOp.DELETE || v === undefined) continue;
    const why = TOPIC_CONFIGS.get(o.name)!.validate(v);
    if (why) throw refuse(ErrorCode.INVALID_CONFIG, invalidValue(o.name, v, why));
  }
}

/** Names klite does not know are kept (as Kafka keeps them for plugins), but only so many per broker entity. */
const MAX_UNKNOWN_BROKER_CONFIGS = 256;

function checkBroker(ops: readonly ConfigOp[], next: ReadonlyMap<string, string>): void {
  const unknown = [...next.keys()].filter((n) => !BROKER_CONFIGS.has(n)).length;
  if (unknown > MAX_UNKNOWN_BROKER_CONFIGS) {
    throw refuse(ErrorCode.INVALID_REQUEST, `klite keeps at most ${MAX_UNKNOWN_BROKER_CONFIGS} broker configs it does not know (they have no effect); this change would make ${unknown}`);
  }
  const readOnly = ops.filter((o) => BROKER_CONFIGS.has(o.name) && !BROKER_CONFIGS.get(o.name)!.dynamic).map((o) => o.name);
  if (readOnly.length) throw refuse(ErrorCode.INVALID_REQUEST, `Cannot update these configs dynamically: [${readOnly.join(", ")}]`);
  for (const o of ops) {
    const v = next.get(o.name);
    if (o.op === AlterOp.DELETE || v === undefined) continue;
    const why = brokerValueProblem(o.name, v);
    if (why) throw refuse(ErrorCode.INVALID_REQUEST, invalidValue(o.name, v, why));
  }
}

/** Writes the new explicit configs of the resource to the metadata log; resolves once durable and in effect. */
export function storeConfigs(ctx: ConfigContext, r: ConfigResource, configs: ReadonlyMap<string, string>): Promise<void> {
  return r.kind === "topic" ? ctx.catalog.setConfigs(r.topic, [...configs]) : ctx.catalog.setBrokerConfigs(r.entity, configs);
}


export interface AlterRequest {
  resourceType: number;
  resourceName: string;
  ops: ConfigOp[];
}

export interface AlterResult {
  errorCode: number;
  errorMessage: string | null;
  resourceType: number;
  resourceName: string;
}

/**
 * AlterConfigs (incremental false) and IncrementalAlterConfigs: each resource is checked and, unless validateOnly,
 * written; one resource's refusal does not affect the others. Changes run one at a time, so two clients altering
 * the same resource never lose each other's ops.
 */
export async function alterConfigs(ctx: ConfigContext, reqs: readonly AlterRequest[], incremental: boolean, validateOnly: boolean, log: (line: string) => void): Promise<AlterResult[]> {
  const seen = new Map<string, number>();
  for (const q of reqs) seen.set(`${q.resourceType}:${q.resourceName}`, (seen.get(`${q.resourceType}:${q.resourceName}`) ?? 0) + 1);
  const results: AlterResult[] = [];
  for (const q of reqs) {
    const result = (errorCode: number, errorMessage: string | null): AlterResult => ({ errorCode, errorMessage, resourceType: q.resourceType, resourceName: q.resourceName });
    if (seen.get(`${q.resourceType}:${q.resourceName}`)! > 1) {
      results.push(result(ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."));
      continue;
    }
    try {
      await ctx.catalog.oneAtATime(async () => {
        // Resolved again inside the turn: the topic may have gone or its configs changed meanwhile.
        const r = resolveResource(ctx, q.resourceType, q.resourceName, true);
        const next = alteredConfigs(ctx, r, q.ops, incremental);
        if (validateOnly) return;
        await storeConfigs(ctx, r, next);
        log(`${r.kind === "topic" ? `topic ${r.topic.name}` : r.entity === "" ? "cluster-default broker" : `broker ${r.entity}`} configs now ${[...next].map(([k, v]) => `${k}=${v}`).join(", ") || "(none set)"}`);
      });
      results.push(result(0, null));
    } catch (e) {
      if (e instanceof ConfigRefused || e instanceof CatalogError) results.push(result(e.code, e.message));
      else if (e instanceof MetaLogError) results.push(result(ErrorCode.KAFKA_STORAGE_ERROR, `Could not write the configs to the metadata log: ${e.message}`));
      else throw e;
    }
  }
  return results;
}
