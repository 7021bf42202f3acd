// Broker configuration: one table of flags, each with its KLITE_ environment variable (the flag wins).
// Values are validated here; a bad value is a ConfigError naming the flag, and the CLI exits non-zero with it.

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Kind = "string" | "int" | "bool" | "duration" | "size" | "addr" | "enum";

interface FlagDef {
  kind: Kind;
  default?: string;
  description: string;
  options?: string[];
  /** Lower bound for int/size/duration values. */
  min?: number;
}

/** Flags in the order --help shows them. Keys are the flag names without the leading dashes. */
export const FLAGS = {
  listen: { kind: "addr", default: ":9092", description: "Kafka listener address (host:port; empty host = all interfaces)" },
  "advertised-addr": { kind: "string", description: "host:port given to clients in Metadata (default: the listen address, localhost for a wildcard host)" },
  "data-dir": { kind: "string", default: "./data", description: "Directory for the WAL, the metadata log and meta.properties" },
  "cluster-id": { kind: "string", description: "Cluster id (default: generated on first start and kept in meta.properties)" },
  "node-id": { kind: "int", default: "0", min: 0, description: "Broker node id" },
  "default-partitions": { kind: "int", default: "1", min: 1, description: "Partitions of topics created without a count" },
  "auto-create-topics": { kind: "bool", default: "true", description: "Create unknown topics when clients ask for their metadata" },
  "log-level": { kind: "enum", default: "info", options: ["silent", "error", "warn", "info", "debug", "trace"], description: "Log level" },
  "health-addr": { kind: "addr", description: "Address for the /livez and /readyz HTTP endpoints (off when empty)" },
  "max-request-size": { kind: "size", default: "100MiB", min: 1024, description: "Largest request frame accepted; larger frames close the connection" },
  "wal-sync-interval": { kind: "duration", default: "0ms", min: 0, description: "How long writes are collected before one write+fsync (0: as soon as the previous fsync is done)" },
  "wal-segment-max-bytes": { kind: "size", default: "64MiB", min: 64 * 1024, description: "WAL segment size" },
  "wal-max-disk-size": { kind: "size", default: "0", min: 0, description: "Delete the oldest WAL segments beyond this total (0 = unlimited)" },
  "chunk-pool-memory": { kind: "size", default: "512MiB", min: 1024 * 1024, description: "Memory for recently written batches (tail reads are served from it); with S3, bounds the data not yet flushed: an early flush starts at 75%, producers wait when it is full" },
  "s3-bucket": { kind: "string", description: "S3 bucket for partition data and the metadata log (S3 tier off when empty)" },
  "s3-region": { kind: "string", description: "S3 region (default: AWS_REGION, else us-east-1)" },
  "s3-endpoint": { kind: "string", description: "S3 endpoint URL for MinIO, R2 and friends; switches to path-style addressing" },
  "s3-prefix": { kind: "string", default: "", description: "Key prefix in the bucket; the cluster lives under <prefix>/klite-<cluster id>/" },
  "s3-flush-interval": { kind: "duration", default: "60s", min: 10, description: "Flush a partition to S3 once its oldest unflushed batch is this old" },
  "s3-target-object-size": { kind: "size", default: "64MiB", min: 1024, description: "Flush a partition to S3 once this much is unflushed; the size of the objects written" },
  "retention-check-interval": { kind: "duration", default: "5m", min: 10, description: "How often retention.ms / retention.bytes are applied to S3 objects (log.retention.check.interval.ms)" },
  "compaction-check-interval": { kind: "duration", default: "1m", min: 10, description: "How often cleanup.policy=compact partitions are checked for compaction" },
  "compaction-min-dirty-objects": { kind: "int", default: "4", min: 1, description: "Compact a partition once this many S3 objects were written since its last compaction" },
  "compaction-read-rate": { kind: "size", default: "64MiB", min: 1024, description: "Bytes per second compaction may read from S3" },
  "group-min-session-timeout": { kind: "duration", default: "6s", min: 1, description: "Smallest session timeout a group member may ask for (group.min.session.timeout.ms)" },
  "group-max-session-timeout": { kind: "duration", default: "30m", min: 1, description: "Largest session timeout a group member may ask for (group.max.session.timeout.ms)" },
  "group-initial-rebalance-delay": { kind: "duration", default: "3s", min: 0, description: "How long a new group waits for more members before its first rebalance (group.initial.rebalance.delay.ms)" },
  "offsets-retention": { kind: "duration", default: "7d", min: 1, description: "How long committed offsets of an empty group are kept (offsets.retention.minutes)" },
} satisfies Record<string, FlagDef>;

export type FlagName = keyof typeof FLAGS;

export interface Config {
  listenHost: string;
  listenPort: number;
  advertisedHost: string | null;
  advertisedPort: number | null;
  dataDir: string;
  clusterId: string | null;
  nodeId: number;
  defaultPartitions: number;
  autoCreateTopics: boolean;
  logLevel: string;
  health: { host: string; port: number } | null;
  maxRequestSize: number;
  walSyncIntervalMs: number;
  walSegmentMaxBytes: number;
  walMaxDiskSize: number;
  chunkPoolMemory: number;
  /** null: no S3 tier. */
  s3: S3Config | null;
  s3FlushIntervalMs: number;
  s3TargetObjectSize: number;
  retentionCheckIntervalMs: number;
  compactionCheckIntervalMs: number;
  compactionMinDirtyObjects: number;
  /** Bytes per second. */
  compactionReadRate: number;
  groupMinSessionTimeoutMs: number;
  groupMaxSessionTimeoutMs: number;
  groupInitialRebalanceDelayMs: number;
  offsetsRetentionMs: number;
}

export interface S3Config {
  bucket: string;
  region: string | null;
  /** An http(s) URL; path-style addressing when set. */
  endpoint: string | null;
  prefix: string;
}

export function envName(flag: string): string {
  return `KLITE_${flag.toUpperCase().replace(/-/g, "_")}`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "5s", "2m", "1h", "7d"; a bare number is milliseconds. Returns milliseconds. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(s.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? "ms"]!);
}

const SIZE_UNITS: Record<string, number> = {
  "": 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

/** "67108864", "64MiB", "64m", "1GB". Returns bytes. */
export function parseSize(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(s.trim());
  if (!m) return null;
  const unit = SIZE_UNITS[m[2]!.toLowerCase()];
  if (unit === undefined) return null;
  return Math.floor(Number(m[1]) * unit);
}

/** "host:port", ":port", "[::1]:port". */
export function parseAddr(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(s.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2] ?? "", port };
}

/**
 * Builds the config from parsed flag values (strings as typed, or booleans) and the environment.
 * Throws ConfigError naming the flag for any bad value.
 */
export function resolveConfig(flags: Partial<Record<string, string | boolean | undefined>>, env: Record<string, string | undefined> = process.env): Config {
  const raw = (name: FlagName): string | undefined => {
    const v = flags[name];
    if (v !== undefined && v !== "") return String(v);
    const e = env[envName(name)];
    if (e !== undefined && e !== "") return e;
    return (FLAGS[name] as FlagDef).default;
  };
  const bad = (name: FlagName, value: string, why: string): never => {
    throw new ConfigError(`invalid value ${JSON.stringify(value)} for --${name} (${envName(name)}): ${why}`);
  };
  const int = (name: FlagName): number => {
    const v = raw(name)!;
    if (!/^-?\d+$/.test(v.trim())) bad(name, v, "expected an integer");
    const n = Number(v);
    const min = (FLAGS[name] as FlagDef).min;
    if (min !== undefined && n < min) bad(name, v, `must be at least ${min}`);
    if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) bad(name, v, "out of range");
    return n;
  };
  const bool = (name: FlagName): boolean => {
    const v = raw(name)!.trim().toLowerCase();
    if (["true", "1", "yes", "on"].includes(v)) return true;
    if (["false", "0", "no", "off"].includes(v)) return false;
    return bad(name, v, "expected true or false");
  };
  const duration = (name: FlagName): number => {
    const v = raw(name)!;
    const ms = parseDuration(v);
    if (ms === null) bad(name, v, "expected a duration such as 500ms, 5s or 2m");
    const min = (FLAGS[name] as FlagDef).min;
    if (min !== undefined && ms! < min) bad(name, v, `must be at least ${min}ms`);
    return ms!;
  };
  const size = (name: FlagName): number => {
    const v = raw(name)!;
    const n = parseSize(v);
    if (n === null) bad(name, v, "expected a size such as 64MiB or 1048576");
    const min = (FLAGS[name] as FlagDef).min;
    if (min !== undefined && n! < min && n !== 0) bad(name, v, `must be at least ${min} bytes`);
    return n!;
  };
  const addr = (name: FlagName): { host: string; port: number } | null => {
    const v = raw(name);
    if (v === undefined) return null;
    const a = parseAddr(v);
    if (!a) bad(name, v, "expected host:port or :port");
    return a;
  };
  const enumValue = (name: FlagName): string => {
    const v = raw(name)!;
    const opts = (FLAGS[name] as FlagDef).options!;
    if (!opts.includes(v)) bad(name, v, `expected one of ${opts.join(", ")}`);
    return v;
  };

  const listen = addr("listen")!;
  let advertisedHost: string | null = null;
  let advertisedPort: number | null = null;
  const adv = raw("advertised-addr");
  if (adv !== undefined) {
    const a = parseAddr(adv);
    if (a && a.host !== "") {
      advertisedHost = a.host;
      advertisedPort = a.port;
    } else if (/^[A-Za-z0-9.\-]+$/.test(adv.trim())) {
      advertisedHost = adv.trim(); // host only: the listen port is advertised
    } else {
      bad("advertised-addr", adv, "expected host:port or host");
    }
  }
  const clusterId = raw("cluster-id") ?? null;
  if (clusterId !== null && !/^[A-Za-z0-9_-]{1,64}$/.test(clusterId)) {
    bad("cluster-id", clusterId, "use 1-64 characters from A-Z a-z 0-9 _ -");
  }

  const cfg: Config = {
    listenHost: listen.host,
    listenPort: listen.port,
    advertisedHost,
    advertisedPort,
    dataDir: raw("data-dir")!,
    clusterId,
    nodeId: int("node-id"),
    defaultPartitions: int("default-partitions"),
    autoCreateTopics: bool("auto-create-topics"),
    logLevel: enumValue("log-level"),
    health: addr("health-addr"),
    maxRequestSize: size("max-request-size"),
    walSyncIntervalMs: duration("wal-sync-interval"),
    walSegmentMaxBytes: size("wal-segment-max-bytes"),
    walMaxDiskSize: size("wal-max-disk-size"),
    chunkPoolMemory: size("chunk-pool-memory"),
    s3: s3Config(raw, bad),
    s3FlushIntervalMs: duration("s3-flush-interval"),
    s3TargetObjectSize: size("s3-target-object-size"),
    retentionCheckIntervalMs: duration("retention-check-interval"),
    compactionCheckIntervalMs: duration("compaction-check-interval"),
    compactionMinDirtyObjects: int("compaction-min-dirty-objects"),
    compactionReadRate: size("compaction-read-rate"),
    groupMinSessionTimeoutMs: duration("group-min-session-timeout"),
    groupMaxSessionTimeoutMs: duration("group-max-session-timeout"),
    groupInitialRebalanceDelayMs: duration("group-initial-rebalance-delay"),
    offsetsRetentionMs: duration("offsets-retention"),
  };
  if (cfg.groupMinSessionTimeoutMs > cfg.groupMaxSessionTimeoutMs) {
    bad("group-min-session-timeout", raw("group-min-session-timeout")!, "must not exceed --group-max-session-timeout");
  }
  if (cfg.defaultPartitions > 100_000) bad("default-partitions", String(cfg.defaultPartitions), "at most 100000");
  if (cfg.walMaxDiskSize !== 0 && cfg.walMaxDiskSize < 2 * cfg.walSegmentMaxBytes) {
    bad("wal-max-disk-size", raw("wal-max-disk-size")!, "must hold at least two WAL segments (--wal-segment-max-bytes)");
  }
  return cfg;
}

function s3Config(raw: (name: FlagName) => string | undefined, bad: (name: FlagName, value: string, why: string) => never): S3Config | null {
  const bucket = raw("s3-bucket");
  if (bucket === undefined) return null;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) bad("s3-bucket", bucket, "not a valid bucket name (3-63 characters from a-z 0-9 . -)");
  const endpoint = raw("s3-endpoint") ?? null;
  if (endpoint !== null && !/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) bad("s3-endpoint", endpoint, "expected a URL such as http://127.0.0.1:9000");
  return { bucket, region: raw("s3-region") ?? null, endpoint: endpoint?.replace(/\/$/, "") ?? null, prefix: raw("s3-prefix") ?? "" };
}

/** Config for tests and embedding: defaults plus overrides, no environment. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...resolveConfig({}, {}), listenHost: "127.0.0.1", listenPort: 0, ...overrides };
}
