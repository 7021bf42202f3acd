// Brokers for tests: in-process (startBroker) or as a child process (spawnBroker: `bun src/main.ts` or the
// compiled binary). Always 127.0.0.1, port 0, a fresh temp data dir; the test that starts one stops it (by pid).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { Broker } from "../../src/broker/broker.ts";
import { testConfig, type Config } from "../../src/config.ts";
import { createLogger, silentLogger } from "../../src/logger.ts";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;

export function tempDir(prefix = "klite-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface TestBroker {
  broker: Broker;
  port: number;
  bootstrap: string;
  dataDir: string;
  config: Config;
  /** Graceful stop; the data dir stays (call cleanup to remove it). */
  stop(): Promise<void>;
  /** Graceful stop, then a new broker on the same data dir and port. */
  restart(overrides?: Partial<Config>): Promise<TestBroker>;
  cleanup(): void;
}

export async function startBroker(overrides: Partial<Config> = {}): Promise<TestBroker> {
  const dataDir = overrides.dataDir ?? tempDir();
  const config = testConfig({ dataDir, walSyncIntervalMs: 1, ...overrides });
  const logger = process.env.KLITE_TEST_LOG ? createLogger(process.env.KLITE_TEST_LOG) : silentLogger;
  const broker = await Broker.start(config, logger);
  const port = broker.address.port;
  const tb: TestBroker = {
    broker,
    port,
    bootstrap: `127.0.0.1:${port}`,
    dataDir,
    config,
    stop: () => broker.stop(),
    async restart(more = {}) {
      await broker.stop();
      return startBroker({ ...overrides, dataDir, listen: { host: "127.0.0.1", port }, ...more });
    },
    cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return tb;
}

export interface SpawnedBroker {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  pid: number;
  port: number;
  bootstrap: string;
  dataDir: string;
  /** Everything the broker printed so far. */
  output(): string;
  kill(signal?: NodeJS.Signals | number): void;
  exited: Promise<number>;
}

/**
 * Starts klite as a child process (`bun src/main.ts`, or `command` such as the compiled binary) and waits for its
 * startup line. Extra args are passed through; --listen and --data-dir default to a random port and temp dir.
 */
export async function spawnBroker(opts: { command?: string[]; args?: string[]; dataDir?: string; port?: number; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {}): Promise<SpawnedBroker> {
  const dataDir = opts.dataDir ?? tempDir();
  const command = opts.command ?? [BUN, join(ROOT, "src/main.ts")];
  const args = ["--listen", `127.0.0.1:${opts.port ?? 0}`, "--data-dir", dataDir, "--wal-sync-interval", "1ms", ...(opts.args ?? [])];
  const proc = Bun.spawn([...command, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...(opts.env ?? {}) },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const chunk of s) out += dec.decode(chunk, { stream: true });
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let port = 0;
  while (Date.now() < deadline) {
    const m = /listening on [^ ]*:(\d+),/.exec(out);
    if (m) {
      port = Number(m[1]);
      break;
    }
    if (proc.exitCode !== null) break;
    await Bun.sleep(20);
  }
  if (!port) {
    proc.kill("SIGKILL");
    throw new Error(`broker did not start (exit ${proc.exitCode}):\n${out}`);
  }
  return {
    proc,
    pid: proc.pid,
    port,
    bootstrap: `127.0.0.1:${port}`,
    dataDir,
    output: () => out,
    kill: (signal = "SIGTERM") => proc.kill(signal),
    exited: proc.exited,
  };
}

/** Waits for cond() to hold, polling; throws with `what` after timeoutMs. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await Bun.sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}
