#!/usr/bin/env bun
// A simple produce benchmark: starts klite (the compiled binary if built, else `bun src/main.ts`) on a temp data
// dir, then drives it with pipelined Produce requests from this process using klite's own codec, and prints
// records/s, MB/s and ack latency percentiles. The full side-by-side comparison with Apache Kafka is `klite bench`
// + scripts/bench/compare (later).
//   bun scripts/bench/produce-simple.ts [--seconds 15] [--record-size 1024] [--batch-records 16] [--partitions 8]
//        [--connections 4] [--in-flight 8] [--acks 1] [--broker host:port (use a running broker)]
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { RawClient } from "../../test/helpers/raw-client.ts";
import { buildBatch } from "../../src/protocol/records.ts";

const ROOT = resolve(import.meta.dir, "../..");
const argv = process.argv.slice(2);
const arg = (name: string, d: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : d;
};
const seconds = Number(arg("seconds", "15"));
const recordSize = Number(arg("record-size", "1024"));
const batchRecords = Number(arg("batch-records", "16"));
const partitions = Number(arg("partitions", "8"));
const connections = Number(arg("connections", "4"));
const inFlight = Number(arg("in-flight", "8"));
const acks = Number(arg("acks", "1"));
const external = argv.includes("--broker") ? arg("broker", "") : null;

let proc: ReturnType<typeof Bun.spawn> | null = null;
let dataDir: string | null = null;
let port: number;
if (external) {
  port = Number(external.split(":")[1]);
} else {
  dataDir = mkdtempSync(join(tmpdir(), "klite-bench-"));
  const bin = join(ROOT, "dist/klite");
  const cmd = existsSync(bin) ? [bin] : [process.execPath, join(ROOT, "src/main.ts")];
  proc = Bun.spawn([...cmd, "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "warn"], { stdout: "pipe", stderr: "pipe" });
  // --log-level warn hides the startup line: find the port from /proc instead.
  port = 0;
  for (let i = 0; i < 200 && !port; i++) {
    await Bun.sleep(25);
    const out = Bun.spawnSync(["ss", "-ltnp"], { stdout: "pipe" }).stdout.toString();
    const m = new RegExp(`127\\.0\\.0\\.1:(\\d+)\\s[^\\n]*pid=${proc.pid},`).exec(out);
    if (m) port = Number(m[1]);
  }
  if (!port) throw new Error("broker did not start");
}

const admin = await RawClient.connect(port);
await admin.request(19, 7, { topics: [{ name: "bench", numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 10000 });
admin.close();

const value = new Uint8Array(recordSize).map((_, i) => (i * 31 + 7) & 255);
const batches = Array.from({ length: 64 }, () => buildBatch(Array.from({ length: batchRecords }, (_, i) => ({ key: new TextEncoder().encode(`key-${i}`), value }))));
let records = 0;
let bytes = 0;
const lat: number[] = [];
let errors = 0;
let running = true;
const t0 = performance.now();

async function worker(id: number) {
  const c = await RawClient.connect(port);
  let n = 0;
  const one = async () => {
    while (running) {
      const p = (id + n++) % partitions;
      const batch = batches[n % batches.length]!;
      const start = performance.now();
      const r = await c.request(0, 9, { transactionalId: null, acks, timeoutMs: 30000, topicData: [{ name: "bench", partitionData: [{ index: p, records: batch }] }] }, 60_000);
      if (!r || r.responses[0].partitionResponses[0].errorCode !== 0) {
        errors++;
        continue;
      }
      lat.push(performance.now() - start);
      records += batchRecords;
      bytes += batchRecords * recordSize;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, one));
  c.close();
}

const ticker = setInterval(() => {
  const s = (performance.now() - t0) / 1000;
  process.stderr.write(`${s.toFixed(0)}s: ${(records / s).toFixed(0)} records/s, ${(bytes / s / 1048576).toFixed(1)} MiB/s\n`);
}, 1000);
const workers = Array.from({ length: connections }, (_, i) => worker(i));
await Bun.sleep(seconds * 1000);
running = false;
await Promise.all(workers);
clearInterval(ticker);
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))]!.toFixed(2);
let rss = "";
if (proc) {
  rss = Bun.spawnSync(["ps", "-o", "rss=", "-p", String(proc.pid)], { stdout: "pipe" }).stdout.toString().trim();
  proc.kill("SIGTERM");
  await proc.exited;
}
if (dataDir) rmSync(dataDir, { recursive: true, force: true });
console.log(JSON.stringify({
  recordSize, batchRecords, partitions, connections, inFlight, acks, seconds: +secs.toFixed(1),
  recordsPerSec: Math.round(records / secs), mibPerSec: +(bytes / secs / 1048576).toFixed(1),
  ackLatencyMs: { p50: pct(0.5), p95: pct(0.95), p99: pct(0.99), max: lat[lat.length - 1]!.toFixed(2) },
  errors, brokerRssKiB: rss ? Number(rss) : undefined,
}));
