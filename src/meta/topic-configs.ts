// Topic-level configs: Apache Kafka's names, types, defaults and validation (as Kafka 4.x's LogConfig validates
// them, with its messages), each with the broker configs it inherits from (Kafka's synonyms, first one dynamic)
// and a short description. `effective: false` marks a config klite accepts and shows but does not act on (sizes
// of Kafka's segment files, replica throttles).
//
// A topic's explicit configs live in a TopicConfigs map; topicConfig() falls back to what the topic inherits from
// the broker's dynamic configs (log.retention.ms, message.max.bytes, ... set with AlterConfigs on the broker), then
// to Kafka's default. Changes take effect at once: appends re-read them on every config change (TopicState.refresh),
// retention and compaction on every check.

/** DescribeConfigs configType values. */
export const ConfigType = { UNKNOWN: 0, BOOLEAN: 1, STRING: 2, INT: 3, SHORT: 4, LONG: 5, DOUBLE: 6, LIST: 7, CLASS: 8, PASSWORD: 9 } as const;
export type ConfigType = (typeof ConfigType)[keyof typeof ConfigType];
type TypeName = "BOOLEAN" | "STRING" | "INT" | "LONG" | "DOUBLE" | "LIST";

export interface TopicConfigDef {
  /** Kafka's default, as DescribeConfigs shows it. */
  default: string;
  type: TypeName;
  /** Returns the reason a value is refused ("Value must be at least 0"), or null. */
  validate(value: string): string | null;
  /** false: accepted and shown, but klite's behaviour does not depend on it. */
  effective: boolean;
  /** Broker configs this one inherits from, in Kafka's order; the first is the dynamic one. */
  synonyms: readonly string[];
  doc: string;
}

const LONG_MAX = "9223372036854775807";
const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;

// --- parsing and validation, with the messages of Kafka's ConfigDef ------------------------------------------------

/** Java's Long.parseLong of the trimmed value, as a bigint, or null. */
function parseLong(v: string): bigint | null {
  const t = v.trim();
  if (!/^[+-]?\d+$/.test(t)) return null;
  const n = BigInt(t);
  return n >= -(2n ** 63n) && n < 2n ** 63n ? n : null;
}

function parseInt32(v: string): number | null {
  const n = parseLong(v);
  return n !== null && n >= BigInt(INT_MIN) && n <= BigInt(INT_MAX) ? Number(n) : null;
}

function parseDouble(v: string): number | null {
  const t = v.trim();
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : null;
}

/** Checks a value's type; returns Kafka's message for a value that does not parse, or null. */
export function typeProblem(type: TypeName, v: string): string | null {
  switch (type) {
    case "BOOLEAN":
      return /^(true|false)$/i.test(v.trim()) ? null : "Expected value to be either true or false";
    case "INT":
      return parseInt32(v) === null ? "Not a number of type INT" : null;
    case "LONG":
      return parseLong(v) === null ? "Not a number of type LONG" : null;
    case "DOUBLE":
      return parseDouble(v) === null ? "Not a number of type DOUBLE" : null;
    default:
      return null;
  }
}

/** The elements of a LIST value (Kafka splits on commas and trims; an empty value is the empty list). */
export function listElements(v: string): string[] {
  return v.trim() === "" ? [] : v.split(",").map((s) => s.trim());
}

type Check = (v: string) => string | null;

const atLeast = (min: number | bigint): Check => (v) => {
  const n = parseLong(v) ?? BigInt(Math.floor(parseDouble(v) ?? 0));
  return n < BigInt(min) ? `Value must be at least ${min}` : null;
};
const between = (min: number, max: number): Check => (v) => {
  const n = parseDouble(v)!;
  if (n < min) return `Value must be at least ${min}`;
  return n > max ? `Value must be no more than ${max}` : null;
};
const oneOf = (...opts: string[]): Check => (v) => (opts.includes(v.trim()) ? null : `String must be one of: ${opts.join(", ")}`);
const any: Check = () => null;
const throttledReplicas: Check = (v) => {
  const items = listElements(v);
  if (items.length === 1 && items[0] === "*") return null;
  return items.every((s) => /^\d+:\d+$/.test(s)) ? null : "must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...";
};

interface Spec {
  d: string;
  type: TypeName;
  check?: Check;
  syn?: string[];
  effective?: boolean;
  doc: string;
}

const SPECS: Record<string, Spec> = {
  "cleanup.policy": {
    d: "delete", type: "LIST", syn: ["log.cleanup.policy"], effective: true,
    check: (v) => (listElements(v).every((e) => e === "delete" || e === "compact") ? null : "String must be one of: compact, delete"),
    doc: "delete: old data is removed by retention.ms / retention.bytes; compact: the newest record of each key is kept (on S3); both may be given, or neither (keep everything).",
  },
  "compression.gzip.level": { d: "-1", type: "INT", syn: ["compression.gzip.level"], check: (v) => { const n = parseInt32(v)!; return n === -1 || (n >= 1 && n <= 9) ? null : "Value must be between 1 and 9 or equal to -1"; }, doc: "Stored; klite never recompresses (compression.type=producer)." },
  "compression.lz4.level": { d: "9", type: "INT", syn: ["compression.lz4.level"], check: (v) => between(1, 17)(v), doc: "Stored; klite never recompresses (compression.type=producer)." },
  "compression.type": {
    d: "producer", type: "STRING", syn: ["compression.type"], effective: true,
    check: (v) => (v.trim() === "producer" ? null : "klite stores batches exactly as the producer compressed them; only 'producer' is supported"),
    doc: "producer: batches are stored exactly as the producer compressed them (the only value klite supports).",
  },
  "compression.zstd.level": { d: "3", type: "INT", syn: ["compression.zstd.level"], check: (v) => between(-131072, 22)(v), doc: "Stored; klite never recompresses (compression.type=producer)." },
  "delete.retention.ms": { d: "86400000", type: "LONG", syn: ["log.cleaner.delete.retention.ms"], check: atLeast(0), effective: true, doc: "How long compaction keeps tombstones (records with a null value)." },
  "errors.deadletterqueue.group.enable": { d: "false", type: "BOOLEAN", doc: "Stored; used by Kafka Streams applications, not by the broker." },
  "file.delete.delay.ms": { d: "60000", type: "LONG", syn: ["log.segment.delete.delay.ms"], check: atLeast(0), doc: "Stored; klite deletes S3 objects and WAL segments without this delay." },
  "flush.messages": { d: LONG_MAX, type: "LONG", syn: ["log.flush.interval.messages"], check: atLeast(1), doc: "Stored; klite fsyncs every acknowledged write (--wal-sync-interval)." },
  "flush.ms": { d: LONG_MAX, type: "LONG", syn: ["log.flush.interval.ms", "log.flush.scheduler.interval.ms"], check: atLeast(0), doc: "Stored; klite fsyncs every acknowledged write (--wal-sync-interval)." },
  "follower.replication.throttled.replicas": { d: "", type: "LIST", check: throttledReplicas, doc: "Stored; replication throttles do not apply to one broker." },
  "index.interval.bytes": { d: "4096", type: "INT", syn: ["log.index.interval.bytes"], check: atLeast(0), doc: "Stored; klite indexes every batch." },
  "leader.replication.throttled.replicas": { d: "", type: "LIST", check: throttledReplicas, doc: "Stored; replication throttles do not apply to one broker." },
  "local.retention.bytes": { d: "-2", type: "LONG", syn: ["log.local.retention.bytes"], check: atLeast(-2), doc: "Stored; the WAL keeps data until it is in S3 (or --wal-max-disk-size)." },
  "local.retention.ms": { d: "-2", type: "LONG", syn: ["log.local.retention.ms"], check: atLeast(-2), doc: "Stored; the WAL keeps data until it is in S3 (or --wal-max-disk-size)." },
  "max.compaction.lag.ms": { d: LONG_MAX, type: "LONG", syn: ["log.cleaner.max.compaction.lag.ms"], check: atLeast(1), doc: "Stored; compaction runs after --compaction-min-dirty-objects new S3 objects." },
  "max.decompressed.message.bytes": { d: "2147483639", type: "INT", syn: ["max.decompressed.message.bytes"], check: atLeast(1), doc: "Stored; klite does not decompress produced batches." },
  "max.message.bytes": { d: "1048588", type: "INT", syn: ["message.max.bytes"], check: atLeast(0), effective: true, doc: "The largest record batch a produce may carry; larger ones get MESSAGE_TOO_LARGE." },
  // Kafka 4's defaults (KIP-1030: at most an hour ahead); the deprecated message.timestamp.difference.max.ms is gone
  // since Kafka 4.0, so it is refused as unknown, as Kafka refuses it.
  "message.timestamp.after.max.ms": { d: "3600000", type: "LONG", syn: ["log.message.timestamp.after.max.ms"], check: atLeast(0), effective: true, doc: "How far a record's CreateTime may lie after the broker's clock." },
  "message.timestamp.before.max.ms": { d: LONG_MAX, type: "LONG", syn: ["log.message.timestamp.before.max.ms"], check: atLeast(0), effective: true, doc: "How far a record's CreateTime may lie before the broker's clock." },
  "message.timestamp.type": { d: "CreateTime", type: "STRING", syn: ["log.message.timestamp.type"], check: oneOf("CreateTime", "LogAppendTime"), effective: true, doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's clock." },
  "min.cleanable.dirty.ratio": { d: "0.5", type: "DOUBLE", syn: ["log.cleaner.min.cleanable.ratio"], check: between(0, 1), doc: "Stored; compaction runs after --compaction-min-dirty-objects new S3 objects." },
  "min.compaction.lag.ms": { d: "0", type: "LONG", syn: ["log.cleaner.min.compaction.lag.ms"], check: atLeast(0), doc: "Stored; the newest data (still in the WAL) is never compacted." },
  "min.insync.replicas": { d: "1", type: "INT", syn: ["min.insync.replicas"], check: atLeast(1), effective: true, doc: "acks=all produces need this many in-sync replicas; above 1 they fail with NOT_ENOUGH_REPLICAS on one broker." },
  "preallocate": { d: "false", type: "BOOLEAN", syn: ["log.preallocate"], doc: "Stored; the WAL always preallocates its next segment." },
  "remote.copy.lag.bytes": { d: "-1", type: "LONG", syn: ["log.remote.copy.lag.bytes"], check: atLeast(-1), doc: "Stored; see --s3-target-object-size." },
  "remote.copy.lag.ms": { d: "0", type: "LONG", syn: ["log.remote.copy.lag.ms"], doc: "Stored; see --s3-flush-interval." },
  "remote.log.copy.disable": { d: "false", type: "BOOLEAN", doc: "Stored; with --s3-bucket every topic is flushed to S3." },
  "remote.log.delete.on.disable": { d: "false", type: "BOOLEAN", doc: "Stored; with --s3-bucket every topic is flushed to S3." },
  "remote.storage.enable": { d: "false", type: "BOOLEAN", doc: "Stored; with --s3-bucket every topic is flushed to S3." },
  "retention.bytes": { d: "-1", type: "LONG", syn: ["log.retention.bytes"], effective: true, doc: "With cleanup.policy delete: the oldest S3 objects go while the partition stays above this size (-1: no limit)." },
  "retention.ms": { d: "604800000", type: "LONG", syn: ["log.retention.ms", "log.retention.minutes", "log.retention.hours"], check: atLeast(-1), effective: true, doc: "With cleanup.policy delete: S3 objects whose newest record is older than this go at the next retention check (-1: forever)." },
  "segment.bytes": { d: "1073741824", type: "INT", syn: ["log.segment.bytes"], check: atLeast(1048576), doc: "Stored; see --s3-target-object-size and --wal-segment-max-bytes." },
  "segment.index.bytes": { d: "10485760", type: "INT", syn: ["log.index.size.max.bytes"], check: atLeast(4), doc: "Stored; klite's index lives in memory." },
  "segment.jitter.ms": { d: "0", type: "LONG", syn: ["log.roll.jitter.ms", "log.roll.jitter.hours"], check: atLeast(0), doc: "Stored; see --s3-flush-interval." },
  "segment.ms": { d: "604800000", type: "LONG", syn: ["log.roll.ms", "log.roll.hours"], check: atLeast(1), doc: "Stored; see --s3-flush-interval." },
  "unclean.leader.election.enable": { d: "false", type: "BOOLEAN", syn: ["unclean.leader.election.enable"], doc: "Stored; one broker leads every partition." },
};

export const TOPIC_CONFIGS: ReadonlyMap<string, TopicConfigDef> = new Map(
  Object.entries(SPECS).map(([name, s]) => [name, {
    default: s.d,
    type: s.type,
    effective: s.effective ?? false,
    synonyms: s.syn ?? [],
    doc: s.doc,
    validate: (v: string) => typeProblem(s.type, v) ?? (s.check ?? any)(v),
  }]),
);

/** The value a validation message shows: a list's first bad element, else the value. */
function shownValue(name: string, v: string): string {
  if (name === "cleanup.policy") return listElements(v).find((e) => e !== "delete" && e !== "compact") ?? v;
  if (name.endsWith("throttled.replicas")) return `[${listElements(v).join(", ")}]`;
  return v;
}

/** Kafka's message for a refused value of a known config. */
export function invalidValue(name: string, v: string, why: string): string {
  const shown = shownValue(name, v);
  return `Invalid value ${shown} for configuration ${name}: ${name.endsWith("throttled.replicas") ? `${name} ${why}` : why}`;
}

/** Validates a set of explicit topic configs; returns the first problem as Kafka's message, or null. */
export function validateTopicConfigs(configs: Iterable<[string, string | null]>): string | null {
  for (const [name, value] of configs) {
    const d = TOPIC_CONFIGS.get(name);
    if (!d) return `Unknown topic config name: ${name}`;
    if (value === null) return `Null value not supported for topic config ${name}`;
    const err = d.validate(value);
    if (err) return invalidValue(name, value, err);
  }
  return null;
}

/**
 * A topic's explicitly set configs. `inherited` (shared by every topic, owned by the catalog) holds what topics
 * inherit from the broker's dynamic configs, keyed by topic config name; topicConfig() consults it.
 */
export class TopicConfigs extends Map<string, string> {
  constructor(entries: Iterable<readonly [string, string]>, readonly inherited: ReadonlyMap<string, string>) {
    super(entries);
  }
}

/** The effective value of a topic config: explicit, else inherited from the broker, else Kafka's default. */
export function topicConfig(configs: ReadonlyMap<string, string>, name: string): string {
  return configs.get(name) ?? (configs instanceof TopicConfigs ? configs.inherited.get(name) : undefined) ?? TOPIC_CONFIGS.get(name)?.default ?? "";
}

/** Whether the topic's cleanup.policy (a list such as "compact,delete") includes `policy`. */
export function hasCleanupPolicy(configs: ReadonlyMap<string, string>, policy: "delete" | "compact"): boolean {
  return listElements(topicConfig(configs, "cleanup.policy")).includes(policy);
}
