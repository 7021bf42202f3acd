// Topic-level configs klite accepts: Kafka's names and defaults, with a validator for each. A config klite stores
// but does not act on is listed as such ("stored"), so DescribeConfigs can say what the topic was created with.

export interface TopicConfigDef {
  default: string;
  /** Returns an error message for a bad value, or null. */
  validate(value: string): string | null;
  /** false: accepted and shown, but klite's behaviour does not depend on it (e.g. segment sizes of Kafka's log). */
  effective: boolean;
}

const LONG_MAX = "9223372036854775807";

const long = (min: number) => (v: string): string | null =>
  /^-?\d+$/.test(v) && Number(v) >= min ? null : `must be an integer >= ${min}`;
const int = (min: number) => (v: string): string | null =>
  /^-?\d+$/.test(v) && Number(v) >= min && Number(v) <= 2 ** 31 - 1 ? null : `must be an integer between ${min} and 2147483647`;
const bool = (v: string): string | null => (v === "true" || v === "false" ? null : "must be true or false");
const ratio = (v: string): string | null => (/^\d*\.?\d+$/.test(v) && Number(v) >= 0 && Number(v) <= 1 ? null : "must be between 0 and 1");
const oneOf = (...opts: string[]) => (v: string): string | null => (opts.includes(v) ? null : `must be one of ${opts.join(", ")}`);
const any = (): string | null => null;

const def = (d: string, validate: (v: string) => string | null, effective = false): TopicConfigDef => ({ default: d, validate, effective });

export const TOPIC_CONFIGS: ReadonlyMap<string, TopicConfigDef> = new Map([
  ["cleanup.policy", def("delete", (v) => {
    const parts = v.split(",").map((s) => s.trim());
    return parts.length > 0 && parts.every((p) => p === "delete" || p === "compact") ? null : "must be delete, compact or compact,delete";
  }, true)],
  ["compression.type", def("producer", (v) =>
    v === "producer" ? null : "klite stores batches exactly as the producer compressed them; only 'producer' is supported", true)],
  ["delete.retention.ms", def("86400000", long(0), true)],
  ["file.delete.delay.ms", def("60000", long(0))],
  ["flush.messages", def(LONG_MAX, long(1))],
  ["flush.ms", def(LONG_MAX, long(0))],
  ["follower.replication.throttled.replicas", def("", any)],
  ["index.interval.bytes", def("4096", int(0))],
  ["leader.replication.throttled.replicas", def("", any)],
  ["local.retention.bytes", def("-2", long(-2))],
  ["local.retention.ms", def("-2", long(-2))],
  ["max.compaction.lag.ms", def(LONG_MAX, long(1))],
  ["max.message.bytes", def("1048588", int(0), true)],
  // Kafka 4's defaults (KIP-1030: at most an hour ahead); the deprecated message.timestamp.difference.max.ms is gone
  // since Kafka 4.0, so it is refused as unknown, as Kafka refuses it.
  ["message.timestamp.after.max.ms", def("3600000", long(0), true)],
  ["message.timestamp.before.max.ms", def(LONG_MAX, long(0), true)],
  ["message.timestamp.type", def("CreateTime", oneOf("CreateTime", "LogAppendTime"), true)],
  ["min.cleanable.dirty.ratio", def("0.5", ratio)],
  ["min.compaction.lag.ms", def("0", long(0))],
  ["min.insync.replicas", def("1", int(1), true)],
  ["preallocate", def("false", bool)],
  ["remote.storage.enable", def("false", bool)],
  ["retention.bytes", def("-1", long(-1), true)],
  ["retention.ms", def("604800000", long(-1), true)],
  ["segment.bytes", def("1073741824", int(14))],
  ["segment.index.bytes", def("10485760", int(4))],
  ["segment.jitter.ms", def("0", long(0))],
  ["segment.ms", def("604800000", long(1))],
  ["unclean.leader.election.enable", def("false", bool)],
]);

/** Validates a set of explicit topic configs; returns the first problem as a Kafka-style message, or null. */
export function validateTopicConfigs(configs: Iterable<[string, string | null]>): string | null {
  for (const [name, value] of configs) {
    const d = TOPIC_CONFIGS.get(name);
    if (!d) return `Unknown topic config name: ${name}`;
    if (value === null) return `Null value not supported for topic config ${name}`;
    const err = d.validate(value);
    if (err) return `Invalid value ${value} for configuration ${name}: ${err}`;
  }
  return null;
}

/** The effective value of a topic config: explicit, else Kafka's default. */
export function topicConfig(configs: ReadonlyMap<string, string>, name: string): string {
  return configs.get(name) ?? TOPIC_CONFIGS.get(name)?.default ?? "";
}

/** Whether the topic's cleanup.policy (a list such as "compact,delete") includes `policy`. */
export function hasCleanupPolicy(configs: ReadonlyMap<string, string>, policy: "delete" | "compact"): boolean {
  return topicConfig(configs, "cleanup.policy").split(",").some((s) => s.trim() === policy);
}
