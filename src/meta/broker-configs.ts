// The broker's configs under Apache Kafka's names, as DescribeConfigs shows them and AlterConfigs changes them:
//   - klite's flags that have a Kafka name (listeners, log.dirs, num.partitions, ...): read-only; their source is
//     STATIC_BROKER_CONFIG when the value differs from the default (klite's defaults are Kafka's), else DEFAULT_CONFIG;
//   - the broker synonyms of topic configs (log.retention.ms, message.max.bytes, log.cleanup.policy, ...): the first
//     synonym of each is dynamic (set for this broker or as the cluster default with AlterConfigs, kept in the
//     metadata log, inherited at once by every topic that does not set its own value); the others (the .hours and
//     .minutes forms) are read-only, as in Kafka;
//   - any other name a client sets: stored as Kafka stores it (plugins read custom keys), no effect in klite, and
//     described as Kafka describes configs it does not know: sensitive, without its value.
// Synonyms and sources follow Kafka's DynamicBrokerConfig.configSynonyms: per synonym, in order, per-broker dynamic,
// cluster-default dynamic, static, default; leading entries for other names than the one described are dropped.
import type { Config } from "../config.ts";
import { TOPIC_CONFIGS, typeProblem } from "./topic-configs.ts";

export const ConfigSource = {
  UNKNOWN: 0, DYNAMIC_TOPIC_CONFIG: 1, DYNAMIC_BROKER_CONFIG: 2, DYNAMIC_DEFAULT_BROKER_CONFIG: 3, STATIC_BROKER_CONFIG: 4, DEFAULT_CONFIG: 5,
} as const;

export interface Synonym {
  name: string;
  value: string | null;
  source: number;
}

type TypeName = "BOOLEAN" | "STRING" | "INT" | "LONG" | "DOUBLE" | "LIST";

export interface BrokerConfigDef {
  type: TypeName;
  /** Kafka's (for flags: klite's) default; null when it has none. */
  default: string | null;
  dynamic: boolean;
  /** The topic config this is a broker default of. */
  topic?: string;
  /** The synonym group it belongs to (itself alone for most). */
  group: readonly string[];
  doc: string;
  /** A flag's value as this config, from the running broker. */
  value?: (b: BrokerFacts) => string | null;
}

/** What the broker's static configs are read from. */
export interface BrokerFacts {
  config: Config;
  nodeId: number;
  advertised: { host: string; port: number };
}

const hostPort = (host: string, port: number) => `${host.includes(":") ? `[${host}]` : host}:${port}`;
/** A listener as Kafka writes it; an empty host (every interface) stays empty. */
const listener = (host: string, port: number) => `PLAINTEXT://${host === "" ? `:${port}` : hostPort(host, port)}`;

const STATIC: Record<string, Omit<BrokerConfigDef, "dynamic" | "group">> = {
  "advertised.listeners": { type: "STRING", default: null, value: (b) => listener(b.advertised.host, b.advertised.port), doc: "The address clients are told to connect to (--advertised-addr)." },
  "auto.create.topics.enable": { type: "BOOLEAN", default: "true", value: (b) => String(b.config.autoCreateTopics), doc: "Whether Metadata requests create unknown topics (--auto-create-topics)." },
  "broker.id": { type: "INT", default: "-1", value: (b) => String(b.nodeId), doc: "This broker's id (--node-id)." },
  "default.replication.factor": { type: "INT", default: "1", value: () => "1", doc: "One broker: every partition has one replica." },
  "group.initial.rebalance.delay.ms": { type: "INT", default: "3000", value: (b) => String(b.config.groupInitialRebalanceDelayMs), doc: "How long a new group waits for more members before its first rebalance (--group-initial-rebalance-delay)." },
  "group.max.session.timeout.ms": { type: "INT", default: "1800000", value: (b) => String(b.config.groupMaxSessionTimeoutMs), doc: "Largest session timeout a group member may ask for (--group-max-session-timeout)." },
  "group.min.session.timeout.ms": { type: "INT", default: "6000", value: (b) => String(b.config.groupMinSessionTimeoutMs), doc: "Smallest session timeout a group member may ask for (--group-min-session-timeout)." },
  "listeners": { type: "STRING", default: "PLAINTEXT://:9092", value: (b) => listener(b.config.listen.host, b.config.listen.port), doc: "The Kafka listener (--listen)." },
  "log.dirs": { type: "STRING", default: "./data", value: (b) => b.config.dataDir, doc: "The data dir: WAL, metadata log, meta.properties (--data-dir)." },
  "log.retention.check.interval.ms": { type: "LONG", default: "300000", value: (b) => String(b.config.retentionCheckIntervalMs), doc: "How often retention is applied to S3 objects (--retention-check-interval)." },
  "node.id": { type: "INT", default: null, value: (b) => String(b.nodeId), doc: "This broker's id (--node-id)." },
  "num.partitions": { type: "INT", default: "1", value: (b) => String(b.config.defaultPartitions), doc: "Partitions of auto-created topics and of CreateTopics with -1 (--default-partitions)." },
  "offsets.retention.minutes": { type: "INT", default: "10080", value: (b) => String(Math.floor(b.config.offsetsRetentionMs / 60_000)), doc: "How long an empty group's committed offsets are kept (--offsets-retention)." },
  "socket.request.max.bytes": { type: "INT", default: "104857600", value: (b) => String(b.config.maxRequestSize), doc: "Larger request frames close the connection (--max-request-size)." },
};

/** Defaults of the read-only synonyms that differ from the topic config's own default (null: none). */
const SYNONYM_DEFAULTS: Record<string, { type: TypeName; default: string | null }> = {
  "log.retention.ms": { type: "LONG", default: null },
  "log.retention.minutes": { type: "INT", default: null },
  "log.retention.hours": { type: "INT", default: "168" },
  "log.roll.ms": { type: "LONG", default: null },
  "log.roll.hours": { type: "INT", default: "168" },
  "log.roll.jitter.ms": { type: "LONG", default: null },
  "log.roll.jitter.hours": { type: "INT", default: "0" },
  "log.flush.interval.ms": { type: "LONG", default: null },
  "log.flush.scheduler.interval.ms": { type: "LONG", default: "9223372036854775807" },
};

function buildTable(): Map<string, BrokerConfigDef> {
  const table = new Map<string, BrokerConfigDef>();
  for (const [name, d] of Object.entries(STATIC)) table.set(name, { ...d, dynamic: false, group: [name] });
  for (const [topic, t] of TOPIC_CONFIGS) {
    t.synonyms.forEach((name, i) => {
      const own = SYNONYM_DEFAULTS[name];
      table.set(name, {
        type: own?.type ?? t.type,
        default: own ? own.default : t.default,
        dynamic: i === 0,
        topic,
        group: t.synonyms,
        doc: i === 0 ? `The default of the topic config ${topic} for topics that do not set it: ${t.doc}` : `Read-only form of ${t.synonyms[0]} (Kafka's; set ${t.synonyms[0]} instead).`,
      });
    });
  }
  return table;
}

export const BROKER_CONFIGS: ReadonlyMap<string, BrokerConfigDef> = buildTable();

/** The type-check message for a broker config value (its topic config's validation for the dynamic ones). */
export function brokerValueProblem(name: string, value: string): string | null {
  const d = BROKER_CONFIGS.get(name);
  if (!d) return null;
  if (d.topic) return TOPIC_CONFIGS.get(d.topic)!.validate(value);
  return typeProblem(d.type, value);
}

/** Static broker config values that differ from the default (what Kafka calls STATIC_BROKER_CONFIG). */
export function staticConfigs(b: BrokerFacts): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, d] of Object.entries(STATIC)) {
    const v = d.value?.(b) ?? null;
    if (v !== null && v !== d.default) out.set(name, v);
  }
  return out;
}

/** Kafka's defaults of the broker configs (non-null ones), for DEFAULT_CONFIG synonyms. */
export const DEFAULT_BROKER_VALUES: ReadonlyMap<string, string> = new Map(
  [...BROKER_CONFIGS].filter(([, d]) => d.default !== null).map(([n, d]) => [n, d.default!]),
);

/** The four places a broker config value comes from, most specific first. */
export interface BrokerLayers {
  broker: ReadonlyMap<string, string>;
  clusterDefault: ReadonlyMap<string, string>;
  static: ReadonlyMap<string, string>;
  defaults: ReadonlyMap<string, string>;
}

/** Kafka's configSynonyms: the entries of `group` in every layer, from `from` on. */
export function synonymsOf(group: readonly string[], from: string, layers: BrokerLayers, sensitive = false): Synonym[] {
  const out: Synonym[] = [];
  const add = (map: ReadonlyMap<string, string>, source: number) => {
    for (const name of group) {
      const v = map.get(name);
      if (v !== undefined) out.push({ name, value: sensitive ? null : v, source });
    }
  };
  add(layers.broker, ConfigSource.DYNAMIC_BROKER_CONFIG);
  add(layers.clusterDefault, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG);
  add(layers.static, ConfigSource.STATIC_BROKER_CONFIG);
  add(layers.defaults, ConfigSource.DEFAULT_CONFIG);
  const first = out.findIndex((s) => s.name === from);
  return first < 0 ? [] : out.slice(first);
}
