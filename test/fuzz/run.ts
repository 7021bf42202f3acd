// A fuzzing run (see fuzzer.ts): a broker as its own process (`bun src/main.ts`), the saved regression frames, the
// corpus as captured, then mutated frames from `concurrency` connections until `frames` are sent or `durationMs` has
// passed. The broker's RSS is sampled from /proc; a healthy connection must keep being answered; at the end the broker
// must stop on SIGTERM with exit 0. Stops at the first failure.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnBroker, type SpawnedBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { checkResponse, FuzzConnection, hex, loadCorpus, loadRegressions, mutate, REGRESSIONS_DIR, Rng, type Seed } from "./fuzzer.ts";

/** Kafka clients' default request.timeout.ms: how long a client waits for an answer before it gives up on it. */
export const HEALTH_TIMEOUT_MS = 30_000;

export interface FuzzOptions {
  frames: number;
  durationMs: number;
  seed: number;
  concurrency?: number;
  /** How long a frame may go unanswered before its connection is dropped (long polls, acks=0 produce). */
  waitMs?: number;
  /** How long the healthy connection's ApiVersions may take before the run fails (default 30 s). */
  healthTimeoutMs?: number;
  /** Called once the broker runs (a test of the harness itself stops it). */
  onBroker?: (b: SpawnedBroker) => void;
  /** Called about every second. */
  progress?: (s: FuzzStats) => void;
}

export interface FuzzFailure {
  why: string;
  source: string;
  frame: Uint8Array;
}

export interface FuzzStats {
  frames: number;
  answered: number;
  closed: number;
  silent: number;
  seconds: number;
  framesPerSec: number;
  rssPeakMiB: number;
  /** The slowest answer to the healthy connection's ApiVersions. */
  healthMaxMs: number;
  failure: FuzzFailure | null;
  seed: number;
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Saves a failing frame as a regression (replayed first from now on); returns its path. */
export function saveRegression(f: FuzzFailure): string {
  mkdirSync(REGRESSIONS_DIR, { recursive: true });
  const key = f.frame.length >= 2 ? new DataView(f.frame.buffer, f.frame.byteOffset).getInt16(0) : -1;
  const path = join(REGRESSIONS_DIR, `${new Date().toISOString().replace(/[:.]/g, "-")}-api${key}.hex`);
  writeFileSync(path, `${hex(f.frame)}\n`);
  return path;
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzStats> {
  const corpus = loadCorpus();
  const regressions = loadRegressions();
  if (corpus.length === 0) throw new Error("the fuzzing corpus is empty: run bun scripts/fuzz-capture.ts");
  const rng = new Rng(opts.seed);
  const broker: SpawnedBroker = await spawnBroker({ args: ["--log-level", "info", "--group-initial-rebalance-delay", "0ms"] });
  const stats: FuzzStats = { frames: 0, answered: 0, closed: 0, silent: 0, seconds: 0, framesPerSec: 0, rssPeakMiB: 0, healthMaxMs: 0, failure: null, seed: opts.seed };
  const t0 = performance.now();
  opts.onBroker?.(broker);
  const fail = (why: string, source: string, frame: Uint8Array) => {
    stats.failure ??= { why, source, frame };
  };
  const inFlight = new Map<number, { frame: Uint8Array; source: string }>(); // local port -> frame
  let scanned = 0;
  const scanLog = () => {
    const out = broker.output();
    const fresh = out.slice(scanned);
    scanned = out.length;
    for (const line of fresh.split("\n")) {
      if (!/ failed: |internal error|Uncaught|panic/i.test(line)) continue;
      const port = Number(/from [^ ]*:(\d+)/.exec(line)?.[1] ?? 0);
      const f = inFlight.get(port);
      fail(`the broker logged: ${line.slice(0, 600)}`, f?.source ?? "(connection unknown)", f?.frame ?? new Uint8Array(0));
    }
  };
  const sampler = setInterval(() => {
    stats.rssPeakMiB = Math.max(stats.rssPeakMiB, rssMiB(broker.pid));
    scanLog();
    stats.seconds = (performance.now() - t0) / 1000;
    stats.framesPerSec = stats.frames / Math.max(stats.seconds, 0.001);
    opts.progress?.(stats);
  }, 1000);
  // A healthy client beside the fuzzing: one ApiVersions at a time, a second apart, each answered within
  // healthTimeoutMs (by default Kafka clients' request.timeout.ms: what a user's client waits before giving up). The
  // probe is awaited before its connection is closed at the end, so a probe in flight then is not taken for a broker
  // that stopped answering (closing it made the broker drop the answer: the flaky "stopped answering" of seed
  // 983567838).
  const healthTimeoutMs = opts.healthTimeoutMs ?? HEALTH_TIMEOUT_MS;
  const health = await RawClient.connect(broker.port);
  let probing = true;
  let stopProbing!: () => void;
  const probeStopped = new Promise<void>((r) => (stopProbing = r));
  const probe = (async () => {
    while (probing && !stats.failure) {
      const sent = performance.now();
      const r = await health.request(18, 3, { clientSoftwareName: "fuzz-health", clientSoftwareVersion: "1" }, healthTimeoutMs).catch((e: Error) => e);
      const took = performance.now() - sent;
      stats.healthMaxMs = Math.max(stats.healthMaxMs, took);
      if (r === null || r instanceof Error || r.errorCode !== 0) {
        const what = r instanceof Error ? `answered wrongly (${r.message})` : r !== null ? `answered error ${r.errorCode}` : health.isClosed ? "closed it" : `did not answer within ${healthTimeoutMs} ms`;
        fail(`the broker stopped answering a healthy connection: ApiVersions sent ${((sent - t0) / 1000).toFixed(1)} s into the run, the broker ${what} (after ${Math.round(took)} ms)`, "health", new Uint8Array(0));
        return;
      }
      await Promise.race([Bun.sleep(1000), probeStopped]);
    }
  })();
  const deadline = performance.now() + opts.durationMs;
  const waitMs = opts.waitMs ?? 200;
  // What is sent: the regressions, the corpus as captured, then mutations until enough.
  const fixed: Seed[] = [...regressions, ...corpus];
  let next = 0;
  const nextFrame = (): Seed | null => {
    if (stats.failure || stats.frames >= opts.frames || performance.now() > deadline || broker.proc.exitCode !== null) return null;
    stats.frames++;
    if (next < fixed.length) return fixed[next++]!;
    const seed = rng.pick(corpus);
    return { source: `${seed.source} (mutated)`, frame: mutate(seed, rng, corpus) };
  };
  const worker = async () => {
    let c: FuzzConnection | null = null;
    for (let s = nextFrame(); s !== null; s = nextFrame()) {
      if (!c || c.closed) c = await FuzzConnection.open(broker.port).catch(() => null);
      if (!c) {
        fail("the broker refused a new connection", s.source, s.frame);
        break;
      }
      inFlight.set(c.localPort, s);
      const o = await c.send(s.frame, waitMs);
      if (o.kind === "answered") {
        stats.answered++;
        const why = checkResponse(s.frame, o.frame);
        if (why) fail(why, s.source, s.frame);
      } else if (o.kind === "closed") {
        stats.closed++;
      } else {
        stats.silent++;
        c.close(); // a long poll or an acks=0 produce: move on with a fresh connection
      }
    }
    c?.close();
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency ?? 16 }, worker));
    await Bun.sleep(300); // log lines of the last frames
    scanLog();
    if (broker.proc.exitCode !== null) fail(`the broker exited (${broker.proc.exitCode})`, "broker", new Uint8Array(0));
  } finally {
    clearInterval(sampler);
    probing = false;
    stopProbing();
    await probe;
    health.close();
    stats.rssPeakMiB = Math.max(stats.rssPeakMiB, rssMiB(broker.pid));
    stats.seconds = (performance.now() - t0) / 1000;
    stats.framesPerSec = stats.frames / stats.seconds;
    if (broker.proc.exitCode === null) {
      broker.kill("SIGTERM");
      const code = await Promise.race([broker.exited, Bun.sleep(30_000).then(() => "timeout" as const)]);
      if (code === "timeout") {
        broker.kill("SIGKILL");
        fail("the broker did not stop within 30 s of SIGTERM", "shutdown", new Uint8Array(0));
      } else if (code !== 0) {
        fail(`the broker exited ${code} on SIGTERM`, "shutdown", new Uint8Array(0));
      }
    }
    rmSync(broker.dataDir, { recursive: true, force: true });
  }
  return stats;
}

export function describeFailure(f: FuzzFailure): string {
  return `${f.why}\nframe from ${f.source} (${f.frame.length} bytes, hex):\n${hex(f.frame)}`;
}
