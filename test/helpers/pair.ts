// A replicated pair of compiled klite processes on one MinIO bucket, for the failover tests and the failover
// benchmark: each node keeps its Kafka port, replication port, health port and data dir across restarts (so clients
// and the lease find it again), and is stopped by pid. Short lease timings keep the tests quick.
import { afterAll, beforeAll } from "bun:test";
import { rmSync } from "node:fs";
import { ensureBinary } from "./binary.ts";
import { spawnBroker, tempDir, type SpawnedBroker } from "./broker.ts";
import { startMinio, type MinioServer } from "./minio.ts";
import { RawClient } from "./raw-client.ts";

export function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

export interface PairTimings {
  leaseMs: number;
  renewMs: number;
  retryMs: number;
  ackTimeoutMs: number;
}

export const FAST: PairTimings = { leaseMs: 3000, renewMs: 1000, retryMs: 500, ackTimeoutMs: 2000 };

export class Node {
  proc: SpawnedBroker | null = null;
  readonly dataDir: string;
  kafkaPort = freePort();
  replPort = freePort();
  healthPort = freePort();
  /** Everything every incarnation printed. */
  log = "";

  constructor(
    readonly name: string,
    readonly nodeId: number,
    private readonly args: () => string[],
    private readonly env: Record<string, string>,
    dataDir?: string,
  ) {
    this.dataDir = dataDir ?? tempDir(`klite-${name}-`);
  }

  get bootstrap(): string {
    return `127.0.0.1:${this.kafkaPort}`;
  }

  async start(extraEnv: Record<string, string> = {}, command?: string[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.spawn(extraEnv, command);
        return;
      } catch (e) {
        // On a shared machine another process may take one of this node's ports (between freePort() and the bind, or
        // while the node was down): pick new ones. Clients find the node again through the other node's Metadata,
        // which names it, and the standby through the lease.
        if (attempt >= 3 || !/address already in use/.test((e as Error).message)) throw e;
        this.kafkaPort = freePort();
        this.replPort = freePort();
        this.healthPort = freePort();
      }
    }
  }

  private async spawn(extraEnv: Record<string, string>, command?: string[]): Promise<void> {
    this.proc = await spawnBroker({
      command: command ?? [await ensureBinary()],
      dataDir: this.dataDir,
      port: this.kafkaPort,
      env: { ...this.env, ...extraEnv },
      timeoutMs: 30_000,
      args: [
        "--node-id", String(this.nodeId),
        "--replication-id", this.name,
        "--replication-addr", `127.0.0.1:${this.replPort}`,
        "--health-addr", `127.0.0.1:${this.healthPort}`,
        ...this.args(),
      ],
    });
  }

  get alive(): boolean {
    return this.proc !== null && this.proc.proc.exitCode === null;
  }

  private keepLog(): void {
    if (this.proc) this.log += this.proc.output();
  }

  async kill(signal: "SIGKILL" | "SIGTERM" = "SIGKILL"): Promise<number> {
    const p = this.proc;
    if (!p) return -1;
    try {
      process.kill(p.pid, signal);
    } catch {
      // gone already
    }
    const code = await p.exited;
    this.keepLog();
    this.proc = null;
    return code;
  }

  async role(): Promise<string | null> {
    if (!this.alive) return null;
    try {
      const r = await fetch(`http://127.0.0.1:${this.healthPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      return r.ok ? (await r.text()).trim() : null;
    } catch {
      return null;
    }
  }

  async replication(): Promise<{ role: string; standby: { inSync: boolean; standby: string | null } | null; epoch: number | null } | null> {
    if (!this.alive) return null;
    try {
      const r = await fetch(`http://127.0.0.1:${this.healthPort}/replication`, { signal: AbortSignal.timeout(1000) });
      return r.ok ? ((await r.json()) as never) : null;
    } catch {
      return null;
    }
  }

  output(): string {
    return this.log + (this.proc?.output() ?? "");
  }

  cleanup(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Two nodes on one bucket; `endpoints` may give each its own way to the S3 server (a breakable proxy). */
export function pair(server: MinioServer, bucket: string, t: PairTimings = FAST, more: string[] = [], endpoints: [string, string] = [server.endpoint, server.endpoint]): [Node, Node] {
  const args = (endpoint: string) => () => [
    "--s3-bucket", bucket, "--s3-endpoint", endpoint, "--s3-region", "us-east-1",
    "--lease-duration", `${t.leaseMs}ms`, "--lease-renew-interval", `${t.renewMs}ms`, "--lease-retry-interval", `${t.retryMs}ms`,
    "--replication-ack-timeout", `${t.ackTimeoutMs}ms`, "--s3-flush-interval", "2s",
    ...more,
  ];
  return [new Node("node-a", 1, args(endpoints[0]), server.env), new Node("node-b", 2, args(endpoints[1]), server.env)];
}

export async function until<T>(what: string, f: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

/** The node that is primary with its standby in sync (the pair is safe to lose its primary). */
export async function primaryInSync(nodes: Node[], timeoutMs = 60_000): Promise<Node> {
  return until("a primary with its standby in sync", async () => {
    for (const n of nodes) {
      const r = await n.replication();
      if (r?.role === "primary" && r.standby?.inSync) return n;
    }
    return null;
  }, timeoutMs);
}

export async function primaryOf(nodes: Node[], timeoutMs = 60_000): Promise<Node> {
  return until("a primary", async () => {
    for (const n of nodes) if ((await n.role()) === "primary") return n;
    return null;
  }, timeoutMs);
}

/** Creates a topic of `partitions` partitions (CreateTopics v5) through the node at `port`. */
export async function createTopic(port: number, name: string, partitions = 1): Promise<void> {
  const c = await RawClient.connect(port);
  try {
    await c.request(19, 5, { topics: [{ name, numPartitions: partitions, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
  } finally {
    c.close();
  }
}

/**
 * Inside a describe: the compiled binary and a MinIO before its tests; after them, every node the tests put in
 * `nodes` is killed (by pid) and its data dir removed, and MinIO is stopped.
 */
export function pairFixture(): { readonly server: MinioServer; readonly nodes: Node[] } {
  let server: MinioServer | undefined;
  const nodes: Node[] = [];
  beforeAll(async () => {
    await ensureBinary();
    server = await startMinio();
  });
  afterAll(async () => {
    for (const n of nodes) await n.kill();
    for (const n of nodes) n.cleanup();
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error("MinIO is not started yet (use pairFixture's server inside tests)");
      return server;
    },
    nodes,
  };
}
