#!/usr/bin/env bun
// klite beside Apache Kafka on this machine: the same workloads, one broker at a time on the same disk, driven by
// `klite bench` and by Kafka's ProducerPerformance/ConsumerPerformance. Writes a markdown table, a JSON file and an
// SVG chart (bench-results/ by default); every figure of klite stands beside Kafka's with the ratio.
//   scripts/bench/compare [--quick] [--rounds N] [--out DIR] [--only klite|kafka] [--report-only DIR/compare-raw.json]
//                         [--klite PATH] [--memory-limit 1GiB|off]
// klite is the compiled binary (npm run build first; --klite another one, for A/B runs); Kafka 4.4.0 comes from
// Maven Central (scripts/bench/kafka.ts). Every workload is bounded in time; --quick shortens them (about 6 minutes
// in all, against about 20). kcat (librdkafka's default 1 MB batches of 100-byte records, one partition, acks=1) runs
// on the fresh broker and again after the produce workloads, to show whether the broker slows down as it ages.
// klite then runs every workload a second time inside a memory cgroup of --memory-limit (1 GiB, the Helm chart's
// suggested pod limit) with its default flags: whether it survived (no OOM kill), its peak RSS and its figures
// there. Where no cgroup can be created (not root, no delegated memory controller) that run is skipped and says why.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { Cluster } from "../../src/bench/cluster.ts";
import { BatchBuilder } from "../../src/bench/batch.ts";
import * as produce from "../../src/protocol/messages/produce.ts";
import type { BenchResult } from "../../src/bench/report.ts";
import { installKafka, KAFKA_VERSION, startKafka, waitReady } from "./kafka.ts";
import { consumerPerformance, producerPerformance } from "./java-tools.ts";
import { buildReport, type Measurements, type Side } from "./compare-report.ts";
import { memoryCgroup, rssOf, type MemoryCgroup } from "../../test/helpers/cgroup.ts";
import { parseSize } from "../../src/config.ts";

const ROOT = resolve(import.meta.dir, "../..");
const argv = process.argv.slice(2);
const flag = (n: string) => argv.includes(`--${n}`);
const opt = (n: string, d: string) => (argv.includes(`--${n}`) ? argv[argv.indexOf(`--${n}`) + 1]! : d);
const KLITE = resolve(opt("klite", join(ROOT, "dist", "klite")));
const MEMORY_LIMIT = opt("memory-limit", "1GiB");
const QUICK = flag("quick");
const ROUNDS = Number(opt("rounds", "1"));
const OUT = resolve(opt("out", join(ROOT, "bench-results")));
const ONLY = opt("only", "");

/** Seconds per produce run, e2e seconds, records for the consume-from-beginning topic, start-ups to time. */
const PLAN = QUICK
  ? { produceS: 6, e2eS: 15, tailS: 6, fillRecords: 200_000, startups: 3, warmS: 8, kcatRecords: 1_000_000 }
  : { produceS: 15, e2eS: 60, tailS: 15, fillRecords: 1_048_576, startups: 5, warmS: 20, kcatRecords: 3_000_000 };
/** kcat's record size: librdkafka's default batch.size (1,000,000 bytes) then holds about 9,000 records. */
const KCAT_RECORD = 100;
const RECORD = 1024;
/** A port p with p + 1 free as well (Kafka's controller listener), so runs beside other brokers on this machine work. */
function freePortPair(): number {
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 40_000);
    const held: { stop(closeActive?: boolean): void }[] = [];
    try {
      for (const port of [p, p + 1]) held.push(Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } }));
      return p;
    } catch {
      // taken: try another
    } finally {
      for (const l of held) l.stop(true);
    }
  }
}
const PORT = Number(opt("port", "0")) || freePortPair();

const log = (s: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${s}\n`);

interface Broker {
  name: Side;
  pid: number;
  bootstrap: string;
  spawnedAt: number;
  exited: () => boolean;
  stop(): Promise<void>;
}

async function startKlite(dir: string, cgroup: MemoryCgroup | null = null): Promise<Broker> {
  const spawnedAt = performance.now();
  const argv = [KLITE, "--listen", `127.0.0.1:${PORT}`, "--data-dir", join(dir, "data"), "--log-level", "warn"];
  const proc = Bun.spawn(cgroup ? cgroup.wrap(argv) : argv, { stdin: "ignore", stdout: "ignore", stderr: "inherit" });
  proc.exited.then((code) => {
    if (code !== 0 && proc.signalCode !== "SIGTERM") log(`klite exited with ${proc.signalCode ?? code}${cgroup ? ` (OOM kills in its cgroup: ${cgroup.oomKills()})` : ""}`);
  });
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

/** kcat producing PLAN.kcatRecords records of KCAT_RECORD bytes from `file` into one partition with acks=1. */
async function kcatProduce(bootstrap: string, topic: string, file: string): Promise<{ recordsPerSec: number; seconds: number } | null> {
  if (!Bun.which("kcat")) return null;
  await createTopic(bootstrap, topic, 1);
  const t0 = performance.now();
  const proc = Bun.spawn(["kcat", "-P", "-b", bootstrap, "-t", topic, "-p", "0", "-X", "acks=1"], { stdin: Bun.file(file), stdout: "ignore", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 300_000);
  const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) {
    log(`  kcat failed (exit ${code}): ${err.trim().split("\n").slice(-3).join(" / ")}`);
    return null;
  }
  return { recordsPerSec: PLAN.kcatRecords / seconds, seconds };
}

function kcatInput(dir: string): string {
  const file = join(dir, "kcat-input.txt");
  const line = `${"x".repeat(KCAT_RECORD - 1)}\n`;
  const chunk = line.repeat(10_000);
  const fd = openSync(file, "w");
  for (let i = 0; i < PLAN.kcatRecords; i += 10_000) writeSync(fd, chunk);
  closeSync(fd);
  return file;
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

/**
 * Every workload against one broker; fills m[prefix + key] for this side. With a cgroup (the memory-limited run) the
 * start-up timings are skipped and the cgroup's OOM kills and peak are recorded too.
 */
async function runSide(side: Side, start: (dir: string) => Promise<Broker>, home: string | null, m: Measurements, opts: { prefix?: string; cgroup?: MemoryCgroup | null } = {}): Promise<void> {
  const prefix = opts.prefix ?? "";
  const put = (key: string, value: unknown) => {
    (m[prefix + key] ??= {})[side] = value;
  };
  const tag = `${side}${opts.cgroup ? ` in a ${fmtMiB(opts.cgroup.limitBytes)} MiB cgroup` : ""}`;
  // Start-up: fresh data dir each time, spawn to first acknowledged produce.
  const startups: number[] = [];
  for (let i = 0; i < (opts.cgroup ? 0 : PLAN.startups); i++) {
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
  if (startups.length) {
    put("startup", startups);
    log(`${tag}: start-up to first ack ${startups.map((x) => x.toFixed(0)).join(", ")} ms`);
  }

  const dir = mkdtempSync(join(tmpdir(), `compare-${side}-`));
  const kcatFile = Bun.which("kcat") ? kcatInput(dir) : null;
  const b = await start(dir);
  let peak = 0;
  const sample = () => (peak = Math.max(peak, (rssOf(b.pid)?.peak ?? 0) / 2 ** 20));
  const sampler = setInterval(sample, 250);
  const alive = (what: string) => {
    if (b.exited()) throw new Error(`${tag} died during ${what}`);
  };
  try {
    await waitReady(b.bootstrap, { get exitCode() { return b.exited() ? 1 : null; } });
    await firstAck(b.bootstrap, b.exited);
    await Bun.sleep(5000);
    put("idleRss", (rssOf(b.pid)?.now ?? 0) / 2 ** 20);
    log(`${tag}: idle RSS ${fmtMiB(rssOf(b.pid)?.now ?? 0)} MiB`);
    // Warm-up (JIT for Kafka, page cache and allocator for both): not measured.
    await kliteBench(b.bootstrap, "produce", ["--topic", "warmup", "--partitions", "8", "--duration", `${PLAN.warmS}s`, "--acks", "1"], PLAN.warmS + 60);
    if (kcatFile) {
      const k = await kcatProduce(b.bootstrap, "kcat-fresh", kcatFile);
      put("kcat-fresh", k);
      log(`${tag}: kcat 1 MB batches on a fresh broker: ${k ? Math.round(k.recordsPerSec) : "-"} rec/s`);
    }
    alive("kcat");

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
        log(`${tag}: ${key}: klite bench ${kb?.produce?.recordsPerSec ?? "-"} rec/s, ProducerPerformance ${pp ? Math.round(pp.recordsPerSec) : "-"} rec/s`);
        alive(key);
      }
      if (v.suffix === "" && kcatFile) {
        // The same kcat run once the broker has taken the produce workloads above (gigabytes): does it slow with age?
        const k = await kcatProduce(b.bootstrap, "kcat-aged", kcatFile);
        put("kcat-aged", k);
        log(`${tag}: kcat 1 MB batches after the produce workloads: ${k ? Math.round(k.recordsPerSec) : "-"} rec/s`);
        alive("kcat");
      }
    }

    const e2eRun = (topic: string) => kliteBench(b.bootstrap, "produce-consume", ["--topic", topic, "--throughput", "20000", "--duration", `${PLAN.e2eS}s`, "--acks", "all", "--warmup-records", "20000"], PLAN.e2eS + 90);
    const e2e = await e2eRun("e2e");
    put("e2e:klite-bench", e2e);
    log(`${tag}: e2e at 20k/s p99 ${e2e?.consume?.e2eLatencyMs?.p99 ?? "-"} ms`);
    alive("e2e");
    if (side === "kafka") {
      // klite acknowledges (and lets consumers see) a record once it is fsync'd, Kafka by default once it is in the
      // page cache: the same workload on a topic with flush.messages=1 is the comparison at the same durability.
      await createTopic(b.bootstrap, "e2e-flush", 1, { "flush.messages": "1" });
      const ef = await e2eRun("e2e-flush");
      put("e2e-flush:klite-bench", ef);
      log(`${tag}: e2e at 20k/s, flush.messages=1: p99 ${ef?.consume?.e2eLatencyMs?.p99 ?? "-"} ms`);
      alive("e2e-flush");
    }

    const tail = await kliteBench(b.bootstrap, "produce-consume", ["--topic", "tail", "--partitions", "8", "--duration", `${PLAN.tailS}s`, "--acks", "1"], PLAN.tailS + 90);
    put("tail:klite-bench", tail);
    log(`${tag}: tail: produced ${tail?.produce?.recordsPerSec ?? "-"} rec/s, consumed ${tail?.consume?.recordsPerSec ?? "-"} rec/s`);
    alive("tail");

    await kliteBench(b.bootstrap, "produce", ["--topic", "fill", "--partitions", "8", "--records", String(PLAN.fillRecords), "--acks", "1"], 600);
    const full = await kliteBench(b.bootstrap, "consume", ["--topic", "fill", "--records", String(PLAN.fillRecords), "--consumers", "1"], 300);
    put("beginning:klite-bench", full?.consume ?? null);
    const cp = home ? await consumerPerformance(home, b.bootstrap, "fill", { records: PLAN.fillRecords, timeoutMs: 300_000 }) : null;
    put("beginning:consumer-perf", cp);
    log(`${tag}: from the beginning: klite bench ${full?.consume?.recordsPerSec ?? "-"} rec/s, ConsumerPerformance ${cp ? Math.round(cp.recordsPerSec) : "-"} rec/s`);
    alive("consume from the beginning");
    sample();
    put("peakRss", peak);
  } catch (e) {
    log(`${tag}: ${(e as Error).message}`);
    if (!opts.cgroup) throw e;
  } finally {
    clearInterval(sampler);
    if (opts.cgroup) {
      put("survived", !b.exited() && opts.cgroup.oomKills() === 0);
      put("oomKills", opts.cgroup.oomKills());
      put("cgroupPeak", (opts.cgroup.peakBytes() ?? NaN) / 2 ** 20);
      put("peakRss", peak);
      log(`${tag}: ${!b.exited() && opts.cgroup.oomKills() === 0 ? "survived every workload" : `did NOT survive (OOM kills ${opts.cgroup.oomKills()})`}, peak RSS ${peak.toFixed(0)} MiB`);
    }
    if (!b.exited()) await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const fmtMiB = (bytes: number) => Math.round(bytes / 2 ** 20).toLocaleString("en-US");

/** The memory-limited run: klite with its defaults inside a new memory cgroup (skipped, with the reason, where none can be made). */
async function runMemoryLimited(home: string | null, m: Measurements): Promise<void> {
  const limit = MEMORY_LIMIT === "off" ? null : parseSize(MEMORY_LIMIT);
  if (limit === null) return;
  const cg = memoryCgroup("klite-compare", limit);
  if ("unavailable" in cg) {
    log(`memory-limited run skipped: ${cg.unavailable}`);
    (m.memoryLimited ??= {}).klite = { skipped: cg.unavailable, limitBytes: limit };
    return;
  }
  (m.memoryLimited ??= {}).klite = { limitBytes: limit, cgroup: `v${cg.version}` };
  try {
    await runSide("klite", (dir) => startKlite(dir, cg), home, m, { prefix: "cg:", cgroup: cg });
  } finally {
    cg.remove();
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
  if (ONLY !== "kafka") await runSide("klite", (dir) => startKlite(dir), home, m);
  writeFileSync(join(OUT, "compare-raw.json"), JSON.stringify({ rounds }, null, 1));
  if (ONLY !== "kafka") await runMemoryLimited(home, m);
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
