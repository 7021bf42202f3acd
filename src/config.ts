// Broker configuration. Every flag is declared once, in FLAGS: its kind, default, bounds, extra check and help
// text. Its KLITE_ environment variable, its key in Config (camelCase; durations get "Ms") and the Config type
// itself are derived from that one entry; flags named s3-* form the nested `s3` group (null without --s3-bucket).
// A bad value is a ConfigError naming the flag, and the CLI exits non-zero with it.

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Kind = "string" | "int" | "bool" | "duration" | "size" | "addr" | "hostport" | "enum" | "list";

interface FlagDef {
  kind: Kind;
  default?: string;
  description: string;
  options?: readonly string[];
  /** Lower bound for int/size/duration values (a size of 0 is always allowed: it means "off"). */
  min?: number;
  /** Upper bound for int values. */
  max?: number;
  /** A further check of the raw value: the reason it is refused, or null. */
  check?: (value: string) => string | null;
}

export interface Addr {
  host: string;
  port: number;
}

/** Flags in the order --help shows them. Keys are the flag names without the leading dashes. */
export const FLAGS = {
  listen: { kind: "addr", default: ":9092", description: "Kafka listener address (host:port; empty host = all interfaces)" },
  "advertised-addr": { kind: "hostport", description: "host:port given to clients in Metadata (default: the listen address, localhost for a wildcard host)" },
  "data-dir": { kind: "string", default: "./data", description: "Directory for the WAL, the metadata log and meta.properties" },
  "cluster-id": {
    kind: "string",
    description: "Cluster id (default: generated on first start and kept in meta.properties)",
    check: (v) => (/^[A-Za-z0-9_-]{1,64}$/.test(v) ? null : "use 1-64 characters from A-Z a-z 0-9 _ -"),
  },
  "node-id": { kind: "int", default: "0", min: 0, description: "Broker node id" },
  "default-partitions": { kind: "int", default: "1", min: 1, max: 100_000, description: "Partitions of topics created without a count" },
  "auto-create-topics": { kind: "bool", default: "true", description: "Create unknown topics when clients ask for their metadata" },
  "log-level": { kind: "enum", default: "info", options: ["silent", "error", "warn", "info", "debug", "trace"], description: "Log level" },
  "health-addr": { kind: "addr", description: "Address for the /livez and /readyz HTTP endpoints (off when empty)" },
  "label-selector": {
    kind: "string",
    description: "Kubernetes label selector of this broker's sibling pods: with POD_NAME set, a new primary removes a stale klite.io/role=primary label from them",
    check: (v) => (/^[A-Za-z0-9._/=!,() -]+$/.test(v) ? null : "expected a label selector such as app.kubernetes.io/name=klite,app.kubernetes.io/instance=klite"),
  },
  "max-request-size": { kind: "size", default: "100MiB", min: 1024, description: "Largest request frame accepted; larger frames close the connection" },
  "wal-sync-interval": { kind: "duration", default: "0ms", min: 0, description: "How long writes are collected before one write+fsync (0: as soon as the previous fsync is done)" },
  "wal-segment-max-bytes": { kind: "size", default: "64MiB", min: 64 * 1024, description: "WAL segment size" },
  "wal-max-disk-size": { kind: "size", default: "0", min: 0, description: "Delete the oldest WAL segments beyond this total (0 = unlimited)" },
  "accept-data-loss": { kind: "bool", default: "false", description: "Start even though damaged WAL entries or metadata-log records have no second copy (S3): the damaged offsets are marked lost (consumers reading them get CORRUPT_MESSAGE) and logged; without it such a start is refused" },
  "memory-limit": { kind: "size", default: "0", min: 64 * 1024 * 1024, description: "Memory the broker keeps within: the chunk pool, fetch responses in flight, requests in flight and the S3 footer cache are shares of it (0: the container's cgroup limit less 10% headroom, else a quarter of the machine's memory)" },
  "chunk-pool-memory": { kind: "size", default: "0", min: 1024 * 1024, description: "Memory for recently written batches (tail reads are served from it); with S3, bounds the data not yet flushed: an early flush starts at 75%, producers wait when it is full (0: a quarter of --memory-limit, at most 512MiB)" },
  "fetch-max-bytes": { kind: "size", default: "55MiB", min: 1024, description: "Largest Fetch response the broker builds, whatever the client asks for (Kafka's broker fetch.max.bytes); the first batch may exceed it, as in Kafka" },
  "max-connections": { kind: "int", default: "10000", min: 1, description: "Connections accepted at once; more are closed at once with a log line (Kafka's max.connections)" },
  "max-connections-per-ip": { kind: "int", default: "0", min: 0, description: "Connections accepted at once from one IP address, 0 for no limit (Kafka's max.connections.per.ip)" },
  "max-partitions": { kind: "int", default: "100000", min: 1, description: "Partitions the broker holds in all; CreateTopics and CreatePartitions beyond it are refused with POLICY_VIOLATION" },
  "max-partitions-per-request": { kind: "int", default: "10000", min: 1, description: "Partitions one CreateTopics or CreatePartitions request may add (Kafka's controller refuses more than 10000)" },
  "s3-bucket": {
    kind: "string",
    description: "S3 bucket for partition data and the metadata log (S3 tier off when empty)",
    check: (v) => (/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v) ? null : "not a valid bucket name (3-63 characters from a-z 0-9 . -)"),
  },
  "s3-region": { kind: "string", description: "S3 region (default: AWS_REGION, else us-east-1)" },
  "s3-endpoint": {
    kind: "string",
    description: "S3 endpoint URL for MinIO, R2 and friends; switches to path-style addressing",
    check: (v) => (/^https?:\/\/[^/\s]+\/?$/.test(v) ? null : "expected a URL such as http://127.0.0.1:9000"),
  },
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
  "replication-addr": { kind: "addr", description: "Replication listener (host:port); turns on replicated mode: active/standby with another node on the same --s3-bucket" },
  "replication-advertised-addr": { kind: "hostport", description: "host:port the other node connects to for replication (default: the replication address; localhost for a wildcard host)" },
  "replication-id": {
    kind: "string",
    description: "This node's name in the lease and in log lines (default: the host name)",
    check: (v) => (/^[A-Za-z0-9._-]{1,128}$/.test(v) ? null : "use 1-128 characters from A-Z a-z 0-9 . _ -"),
  },
  "replication-ack-timeout": { kind: "duration", default: "5s", min: 10, description: "How long an acknowledgement waits for the standby's fsync; then the produce fails with KAFKA_STORAGE_ERROR and the primary goes on alone" },
  "replication-tls-san": { kind: "list", description: "Extra subject alternative name (DNS name or IP) for the replication certificate the first primary generates; repeatable" },
  "lease-duration": { kind: "duration", default: "15s", min: 100, description: "A primary that could not renew its S3 lease for this long stops; a standby takes over after seeing it unchanged this long" },
  "lease-renew-interval": { kind: "duration", default: "5s", min: 10, description: "How often the primary renews its S3 lease" },
  "lease-retry-interval": { kind: "duration", default: "2s", min: 10, description: "How often a standby reads the S3 lease" },
} as const satisfies Record<string, FlagDef>;

export type FlagName = keyof typeof FLAGS;
type Flags = typeof FLAGS;

// --- the Config type, derived from FLAGS ------------------------------------------------------------------------

type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type KeyFor<N extends string, F> = F extends { kind: "duration" } ? `${Camel<N>}Ms` : Camel<N>;
type Parsed<F> = F extends { kind: "int" | "size" | "duration" }
  ? number
  : F extends { kind: "bool" }
    ? boolean
    : F extends { kind: "addr" }
      ? Addr
      : F extends { kind: "hostport" }
        ? { host: string; port: number | null }
        : F extends { kind: "list" }
          ? string[]
          : string;
/** A flag without a default (and not a list) is null when unset. */
type Value<F> = F extends { default: string } | { kind: "list" } ? Parsed<F> : Parsed<F> | null;

type TopFlags = { -readonly [N in keyof Flags as N extends `s3-${string}` ? never : KeyFor<N, Flags[N]>]: Value<Flags[N]> };
type S3Flags = { -readonly [N in keyof Flags as N extends `s3-${infer R}` ? KeyFor<R, Flags[N]> : never]: Value<Flags[N]> };

/** The S3 group: there when --s3-bucket is set. */
export type S3Config = Omit<S3Flags, "bucket"> & { bucket: string };
export type Config = TopFlags & { s3: S3Config | null };

/** The Config key (or key within the s3 group) of a flag. */
export function configKey(name: string): string {
  const camel = name.replace(/^s3-/, "").replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return (FLAGS as Record<string, FlagDef>)[name]?.kind === "duration" ? `${camel}Ms` : camel;
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
export function parseAddr(s: string): Addr | null {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(s.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2] ?? "", port };
}

/** One flag's raw value: the reason it is refused, or the parsed value. */
function parseFlag(def: FlagDef, v: string): { why: string } | { value: unknown } {
  const refuse = (why: string) => ({ why });
  switch (def.kind) {
    case "string":
    case "list":
      break;
    case "int": {
      if (!/^-?\d+$/.test(v.trim())) return refuse("expected an integer");
      const n = Number(v);
      if (def.min !== undefined && n < def.min) return refuse(`must be at least ${def.min}`);
      if (def.max !== undefined && n > def.max) return refuse(`at most ${def.max}`);
      if (!Number.isSafeInteger(n) || n > 2 ** 31 - 1) return refuse("out of range");
      return { value: n };
    }
    case "bool": {
      const b = v.trim().toLowerCase();
      if (["true", "1", "yes", "on"].includes(b)) return { value: true };
      if (["false", "0", "no", "off"].includes(b)) return { value: false };
      return refuse("expected true or false");
    }
    case "duration": {
      const ms = parseDuration(v);
      if (ms === null) return refuse("expected a duration such as 500ms, 5s or 2m");
      if (def.min !== undefined && ms < def.min) return refuse(`must be at least ${def.min}ms`);
      return { value: ms };
    }
    case "size": {
      const n = parseSize(v);
      if (n === null) return refuse("expected a size such as 64MiB or 1048576");
      if (def.min !== undefined && n < def.min && n !== 0) return refuse(`must be at least ${def.min} bytes`);
      return { value: n };
    }
    case "addr": {
      const a = parseAddr(v);
      return a ? { value: a } : refuse("expected host:port or :port");
    }
    case "hostport": {
      const a = parseAddr(v);
      if (a && a.host !== "") return { value: a };
      if (/^[A-Za-z0-9.\-]+$/.test(v.trim())) return { value: { host: v.trim(), port: null } }; // host only
      return refuse("expected host:port or host");
    }
    case "enum":
      if (!def.options!.includes(v)) return refuse(`expected one of ${def.options!.join(", ")}`);
      break;
  }
  const why = def.check?.(v);
  if (why) return refuse(why);
  return { value: def.kind === "list" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v };
}

/**
 * Builds the config from parsed flag values (strings as typed, booleans, or arrays for repeated flags) and the
 * environment. Throws ConfigError naming the flag for any bad value.
 */
export function resolveConfig(flags: Partial<Record<string, string | boolean | string[] | undefined>>, env: Record<string, string | undefined> = process.env): Config {
  const raws: Partial<Record<FlagName, string>> = {};
  const bad = (name: FlagName, value: string, why: string): never => {
    throw new ConfigError(`invalid value ${JSON.stringify(value)} for --${name} (${envName(name)}): ${why}`);
  };
  const top: Record<string, unknown> = {};
  const s3: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(FLAGS) as [FlagName, FlagDef][]) {
    const given = flags[name];
    let raw: string | undefined;
    if (Array.isArray(given)) raw = given.filter((x) => x !== "").join(",") || undefined;
    else if (given !== undefined && given !== "") raw = String(given);
    else if (env[envName(name)] !== undefined && env[envName(name)] !== "") raw = env[envName(name)];
    else raw = def.default;
    raws[name] = raw;
    let value: unknown = def.kind === "list" ? [] : null;
    if (raw !== undefined) {
      const r = parseFlag(def, raw);
      if ("why" in r) bad(name, raw, r.why);
      else value = r.value;
    }
    (name.startsWith("s3-") ? s3 : top)[configKey(name)] = value;
  }
  const cfg = { ...top, s3: s3.bucket === null ? null : s3 } as Config;
  if (cfg.s3?.endpoint) cfg.s3.endpoint = cfg.s3.endpoint.replace(/\/$/, "");
  if (cfg.groupMinSessionTimeoutMs > cfg.groupMaxSessionTimeoutMs) {
    bad("group-min-session-timeout", raws["group-min-session-timeout"]!, "must not exceed --group-max-session-timeout");
  }
  if (cfg.replicationAddr && !cfg.s3) {
    bad("replication-addr", raws["replication-addr"]!, "replicated mode needs --s3-bucket (the lease and the replication certificates live in the bucket)");
  }
  if (cfg.leaseRenewIntervalMs * 2 > cfg.leaseDurationMs) {
    bad("lease-renew-interval", raws["lease-renew-interval"]!, "must be at most half of --lease-duration, so one failed renewal does not cost the lease");
  }
  if (cfg.leaseRetryIntervalMs >= cfg.leaseDurationMs) {
    bad("lease-retry-interval", raws["lease-retry-interval"]!, "must be shorter than --lease-duration");
  }
  if (cfg.walMaxDiskSize !== 0 && cfg.walMaxDiskSize < 2 * cfg.walSegmentMaxBytes) {
    bad("wal-max-disk-size", raws["wal-max-disk-size"]!, "must hold at least two WAL segments (--wal-segment-max-bytes)");
  }
  return cfg;
}

/** The defaults of the S3 group, for tests and embedding: a bucket plus whatever else is given. */
export function s3Config(bucket: string, more: Partial<S3Config> = {}): S3Config {
  const { s3 } = resolveConfig({ "s3-bucket": bucket }, {});
  return { ...s3!, ...more };
}

/** Config for tests and embedding: defaults plus overrides, no environment. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...resolveConfig({}, {}), listen: { host: "127.0.0.1", port: 0 }, ...overrides };
}
