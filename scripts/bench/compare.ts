#!/usr/bin/env bun
// klite beside Apache Kafka on this machine: the same workloads, one broker at a time on the same disk, driven by
// `klite bench` and by Kafka's ProducerPerformance/ConsumerPerformance. Writes a markdown table, a JSON file and an
// SVG chart (bench-results/ by default); every figure of klite stands beside Kafka's with the ratio.
//   scripts/bench/compare [--quick] [--rounds N] [--out DIR] [--only klite|kafka] [--report-only DIR/compare-raw.json]
// klite is the compiled binary (npm run build first); Kafka 4.4.0 comes from Maven Central (scripts/bench/kafka.ts).
// Every workload is bounded in time; --quick shortens them (about 6 minutes in all, against about 20).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { Cluster } from "../../src/bench/cluster.ts";
import { BatchBuilder } from "../../src/bench/batch.ts";
import * as produce from "../../src/protocol/messages/produce.ts";
import type { BenchResult } from "../../src/bench/report.ts";
import { installKafka, KAFKA_VERSION, startKafka, waitReady } from "./kafka.ts";
import { consumerPerformance, producerPerformance } from "./java-tools.ts";
import { buildReport, type Measurements, type Side } from "./compare-report.ts";

const ROOT = resolve(import.meta.dir, "../..");
const KLITE = join(ROOT, "dist", "klite");
const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string, d: string) => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1]! : d);
const QUICK = flag("quick");
const ROUNDS = Number(opt("rounds", "1"));
const OUT = resolve(opt("out", join(ROOT, "bench-results")));
const ONLY = opt("only", "");

/** Seconds per produce run, e2e seconds, records for the consume-from-beginning topic, start-ups to time. */
const PLAN = QUICK
  ? { produceS: 6, e2eS: 15, tailS: 6, fillRecords: 200_000, startups: 3, warmS: 8 }
  : { produceS: 15, e2eS: 60, tailS: 15, fillRecords: 1_048_576, startups: 5, warmS: 20 };
const RECORD = 1024;
const PORT = 39092;

const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

interface Broker {
  name: Side;
  pid: number;
  bootstrap: string;
  spawnedAt: number;
  exited: () => boolean;
  stop(): Promise<void>;
}

async function startKlite(dir: string): Promise<Broker> {
  const spawnedAt = performance.now();
  const proc = Bun.spawn([KLITE, "--listen", `127.0.0.1:${PORT}`, "--data-dir", join(dir, "data"), "--log-level", "warn"], { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
  return {
    name: "klite", pid: proc.pid, bootstrap: `127.0.0.1:${PORT}`, spawnedAt, exited: () => proc.exitCode !== null,
    async stop() {
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      await proc.exited;
      clearTimeout(t);
    },
  };
}

async function startApacheKafka(home: string, dir: string): Promise<Broker> {
  const k = await startKafka(home, join(dir, "kafka"), PORT);
  return { name: "kafka", pid: k.pid, bootstrap: k.bootstrap, spawnedAt: k.spawnedAt, exited: () => k.proc.exitCode !== null, stop: () => k.stop() };
}

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Retries until a one-record produce with acks=1 is acknowledged; returns when (performance.now()). */
async function firstAck(bootstrap: string, exited: () => boolean): Promise<number> {
  const deadline = performance.now() + 120_000;
  for (;;) {
    let c: Cluster | null = null;
    try {
      c = await Cluster.connect([bootstrap]);
      const t = await c.ensureTopic("startup", 1);
      const conn = await c.open(t.leaders[0]!);
      const b = new BatchBuilder(256, 2);
      b.append(new Uint8Array(16), Date.now(), 0);
      const r = await conn.send(produce, conn.version(produce, 11), { transactionalId: null, acks: 1, timeoutMs: 10_000, topicData: [{ name: "startup", partitionData: [{ index: 0, records: b.seal(0) }] }] });
      conn.close();
      if (r.responses[0]?.partitionResponses[0]?.errorCode === 0) return performance.now();
    } catch {
      // not up yet
    } finally {
      c?.close();
    }
    if (exited()) throw new Error("broker exited during start-up");
    if (performance.now() > deadline) throw new Error("no acknowledged produce within 120 s");
    await Bun.sleep(2);
  }
}

/** `klite bench <mode> --json` as its own process (the compiled binary), against `bootstrap`. */
async function kliteBench(bootstrap: string, mode: string, args: string[], timeoutS: number): Promise<BenchResult | null> {
  const proc = Bun.spawn([KLITE, "bench", mode, "--brokers", bootstrap, "--record-size", String(RECORD), "--json", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutS * 1000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) {
    log(`  klite bench ${mode} failed (exit ${code}): ${err.trim().split("\n").slice(-3).join(" / ")}`);
    return null;
  }
  return JSON.parse(out) as BenchResult;
}

async function createTopic(bootstrap: string, name: string, partitions: number, configs: Record<string, string> = {}): Promise<void> {
  const c = await Cluster.connect([bootstrap]);
  try {
    await c.ensureTopic(name, partitions, configs);
  } finally {
    c.close();
  }
}

const PRODUCE = [
  { id: "acks1-p1", acks: "1", partitions: 1 },
  { id: "acksall-p1", acks: "all", partitions: 1 },
  { id: "acks1-p8", acks: "1", partitions: 8 },
  { id: "acksall-p8", acks: "all", partitions: 8 },
] as const;

/** Every workload against one broker; fills m[key] for this side. */
async function runSide(side: Side, start: (dir: string) => Promise<Broker>, home: string | null, m: Measurements): Promise<void> {
  const put = (key: string, value: unknown) => {
    (m[key] ??= {})[side] = value;
  };
  // Start-up: fresh data dir each time, spawn to first acknowledged produce.
  const startups: number[] = [];
  for (let i = 0; i < PLAN.startups; i++) {
    const dir = mkdtempSync(join(tmpdir(), `compare-${side}-`));
    try {
      const b = await start(dir);
      try {
        startups.push((await firstAck(b.bootstrap, b.exited)) - b.spawnedAt);
      } finally {
        await b.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  put("startup", startups);
  log(`${side}: start-up to first ack ${startups.map((x) => x.toFixed(0)).join(", ")} ms`);

  const dir = mkdtempSync(join(tmpdir(), `compare-${side}-`));
  const b = await start(dir);
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(b.pid))), 250);
  try {
    await waitReady(b.bootstrap, { get exitCode() { return b.exited() ? 1 : null; } });
    await firstAck(b.bootstrap, b.exited);
    await Bun.sleep(5000);
    put("idleRss", rssMiB(b.pid));
    log(`${side}: idle RSS ${rssMiB(b.pid).toFixed(0)} MiB`);
    // Warm-up (JIT for Kafka, page cache and allocator for both): not measured.
    await kliteBench(b.bootstrap, "produce", ["--topic", "warmup", "--partitions", "8", "--duration", `${PLAN.warmS}s`, "--acks", "1"], PLAN.warmS + 60);

    const variants: { suffix: string; configs: Record<string, string> }[] = [{ suffix: "", configs: {} }];
    if (side === "kafka") variants.push({ suffix: "-flush", configs: { "flush.messages": "1" } });
    for (const v of variants) {
      for (const w of PRODUCE) {
        const key = `produce-${w.id}${v.suffix}`;
        const topic = `${key}-bench`;
        await createTopic(b.bootstrap, topic, w.partitions, v.configs);
        const kb = await kliteBench(b.bootstrap, "produce", ["--topic", topic, "--duration", `${PLAN.produceS}s`, "--acks", w.acks], PLAN.produceS + 90);
        put(`${key}:klite-bench`, kb?.produce ?? null);
        let pp = null;
        if (home) {
          const ppTopic = `${key}-pp`;
          await createTopic(b.bootstrap, ppTopic, w.partitions, v.configs);
          // Sized from klite bench's rate on this broker so the run lasts about as long.
          const records = Math.max(20_000, Math.round((kb?.produce?.recordsPerSec ?? 20_000) * PLAN.produceS));
          pp = await producerPerformance(home, b.bootstrap, ppTopic, { records, recordSize: RECORD, acks: w.acks, timeoutMs: (PLAN.produceS * 4 + 60) * 1000 });
        }
        put(`${key}:producer-perf`, pp);
        log(`${side}: ${key}: klite bench ${kb?.produce?.recordsPerSec ?? "-"} rec/s, ProducerPerformance ${pp ? Math.round(pp.recordsPerSec) : "-"} rec/s`);
      }
    }

    const e2e = await kliteBench(b.bootstrap, "produce-consume", ["--topic", "e2e", "--throughput", "20000", "--duration", `${PLAN.e2eS}s`, "--acks", "all", "--warmup-records", "20000"], PLAN.e2eS + 90);
    put("e2e:klite-bench", e2e);
    log(`${side}: e2e at 20k/s p99 ${e2e?.consume?.e2eLatencyMs?.p99 ?? "-"} ms`);

    const tail = await kliteBench(b.bootstrap, "produce-consume", ["--topic", "tail", "--partitions", "8", "--duration", `${PLAN.tailS}s`, "--acks", "1"], PLAN.tailS + 90);
    put("tail:klite-bench", tail);
    log(`${side}: tail: produced ${tail?.produce?.recordsPerSec ?? "-"} rec/s, consumed ${tail?.consume?.recordsPerSec ?? "-"} rec/s`);

    await kliteBench(b.bootstrap, "produce", ["--topic", "fill", "--partitions", "8", "--records", String(PLAN.fillRecords), "--acks", "1"], 600);
    const full = await kliteBench(b.bootstrap, "consume", ["--topic", "fill", "--records", String(PLAN.fillRecords), "--consumers", "1"], 300);
    put("beginning:klite-bench", full?.consume ?? null);
    const cp = home ? await consumerPerformance(home, b.bootstrap, "fill", { records: PLAN.fillRecords, timeoutMs: 300_000 }) : null;
    put("beginning:consumer-perf", cp);
    log(`${side}: from the beginning: klite bench ${full?.consume?.recordsPerSec ?? "-"} rec/s, ConsumerPerformance ${cp ? Math.round(cp.recordsPerSec) : "-"} rec/s`);
    put("peakRss", peak);
  } finally {
    clearInterval(sampler);
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes of the regular files under d (symbolic links not followed). */
function dirBytes(d: string): number {
  let n = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) n += e.isDirectory() ? dirBytes(join(d, e.name)) : e.isFile() ? statSync(join(d, e.name)).size : 0;
  return n;
}

if (!existsSync(KLITE)) {
  log(`${KLITE} is missing: run npm run build first`);
  process.exit(1);
}
const home = ONLY === "klite" ? null : await installKafka(log);
mkdirSync(OUT, { recursive: true });
const REPORT_ONLY = opt("report-only", "");
// The raw measurements are saved as they come, so a report can be rebuilt (--report-only FILE) without rerunning.
const raw = REPORT_ONLY ? (JSON.parse(readFileSync(REPORT_ONLY, "utf8")) as { rounds: Measurements[]; minutes?: number; quick?: boolean }) : null;
const rounds: Measurements[] = raw ? raw.rounds : [];
const t0 = performance.now();
for (let r = 0; !REPORT_ONLY && r < ROUNDS; r++) {
  const m: Measurements = {};
  rounds.push(m);
  log(`round ${r + 1} of ${ROUNDS}${QUICK ? " (quick)" : ""}`);
  if (ONLY !== "kafka") await runSide("klite", startKlite, home, m);
  writeFileSync(join(OUT, "compare-raw.json"), JSON.stringify({ rounds }, null, 1));
  if (ONLY !== "klite" && home) await runSide("kafka", (dir) => startApacheKafka(home, dir), home, m);
  writeFileSync(join(OUT, "compare-raw.json"), JSON.stringify({ rounds }, null, 1));
}
const javaHome = Bun.spawnSync(["java", "-XshowSettings:properties", "-version"], { stderr: "pipe" }).stderr.toString().match(/java\.home = (.*)/)?.[1]?.trim();
const machine = {
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: Bun.spawnSync(["uname", "-r"]).stdout.toString().trim(),
  bun: Bun.version,
  java: Bun.spawnSync(["java", "-version"], { stderr: "pipe" }).stderr.toString().split("\n")[0]?.trim() ?? "?",
  kafka: KAFKA_VERSION,
  quick: raw ? raw.quick ?? false : QUICK,
  rounds: rounds.length,
  minutes: raw ? raw.minutes ?? null : Math.round((performance.now() - t0) / 6000) / 10,
  date: new Date().toISOString(),
};
const sizes = { klite: statSync(KLITE).size, kafkaJars: home ? dirBytes(join(home, "lib")) : null, jre: javaHome && existsSync(javaHome) ? dirBytes(javaHome) : null };
if (!raw) writeFileSync(join(OUT, "compare-raw.json"), JSON.stringify({ rounds, minutes: machine.minutes, quick: QUICK }, null, 1));
const report = buildReport(rounds, machine, sizes);
writeFileSync(join(OUT, "compare.md"), report.markdown);
writeFileSync(join(OUT, "compare.json"), JSON.stringify(report.json, null, 2));
writeFileSync(join(OUT, "compare.svg"), report.svg);
console.log(report.markdown);
log(`wrote ${join(OUT, "compare.md")}, compare.json and compare.svg in ${machine.minutes} min`);
