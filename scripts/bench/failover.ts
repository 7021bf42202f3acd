#!/usr/bin/env bun
// Replicated mode, measured with two compiled klite processes on a local MinIO (built by the test helpers):
//   1. unavailability a client sees: one producer sends a one-record batch (acks=all) every 10 ms to whichever node
//      is primary (switching to the other node on any error, as a client's metadata refresh would); the longest gap
//      between two acknowledgements around each stop of the primary, for SIGTERM and for SIGKILL, --runs each,
//      min / median / max beside the targets (graceful ≤ 2 s; crash ≤ lease duration + retry interval);
//   2. what synchronous replication costs: `klite bench produce` (1 KiB records, acks=all) at 1 and 8 partitions
//      against a replicated primary alone and with its standby in sync: records/s and p99 ack latency at an unlimited
//      rate (where latency is mostly time queued in the producer), and p50/p99 ack latency at a fixed --rate (2,000
//      records/s: what synchronous replication adds to each acknowledgement when the machine is not saturated).
// The load average of the machine is printed before and after (it is shared).
// Lease timings are klite's defaults (15 s / 5 s / 2 s) unless given. Figures from a shared machine are preliminary.
//   scripts/bench/failover [--runs 10] [--lease-duration 15s] [--lease-renew-interval 5s] [--lease-retry-interval 2s]
//                          [--duration 20s] [--rate 2000] [--quick: 3 runs, 10 s produce]
import { rmSync } from "node:fs";
import { loadavg } from "node:os";
import { parseDuration } from "../../src/config.ts";
import { buildBatch } from "../../src/protocol/records.ts";
import { ensureBinary } from "../../test/helpers/binary.ts";
import { minio, startMinio } from "../../test/helpers/minio.ts";
import { createTopic, pair, primaryInSync, primaryOf, type Node } from "../../test/helpers/pair.ts";
import { RawClient } from "../../test/helpers/raw-client.ts";

const argv = process.argv.slice(2);
const arg = (name: string, d: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1]! : d;
};
const QUICK = argv.includes("--quick");
const RUNS = Number(arg("runs", QUICK ? "3" : "10"));
const LEASE = parseDuration(arg("lease-duration", "15s"))!;
const RENEW = parseDuration(arg("lease-renew-interval", "5s"))!;
const RETRY = parseDuration(arg("lease-retry-interval", "2s"))!;
const DURATION = arg("duration", QUICK ? "10s" : "20s");

const enc = new TextEncoder();
const say = (s: string) => process.stderr.write(`${s}\n`);

/** A producer that follows the primary; records the time of every acknowledgement. */
class Prober {
  acks: number[] = [];
  private stopped = false;
  private done: Promise<void> = Promise.resolve();
  constructor(private readonly nodes: Node[], private readonly topic: string) {}

  start(): void {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    let i = 0;
    let c: RawClient | null = null;
    let n = 0;
    while (!this.stopped) {
      try {
        c ??= await RawClient.connect(this.nodes[i % this.nodes.length]!.kafkaPort);
        const r = await c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 30_000, topicData: [{ name: this.topic, partitionData: [{ index: 0, records: buildBatch([{ key: enc.encode(`p-${n}`), value: enc.encode("x".repeat(100)) }]) }] }] }, 30_000);
        if (r.responses[0].partitionResponses[0].errorCode !== 0) throw new Error(`error ${r.responses[0].partitionResponses[0].errorCode}`);
        this.acks.push(performance.now());
        n++;
        await Bun.sleep(10);
      } catch {
        c?.close();
        c = null;
        i++;
        await Bun.sleep(50);
      }
    }
    c?.close();
  }

  /** The longest gap between acknowledgements from `from` until acks resume `settle` ms after it. */
  gapAround(from: number): number {
    let gap = 0;
    for (let k = 1; k < this.acks.length; k++) {
      if (this.acks[k]! < from) continue;
      gap = Math.max(gap, this.acks[k]! - Math.max(this.acks[k - 1]!, from - 10_000));
      if (this.acks[k]! > from + gap + 3000) break;
    }
    return gap;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

interface Produced {
  rps: number;
  p50: number;
  p99: number;
}

async function benchProduce(binary: string, port: number, topic: string, partitions: number, rate = -1): Promise<Produced> {
  const p = Bun.spawn([binary, "bench", "produce", "--brokers", `127.0.0.1:${port}`, "--topic", topic, "--partitions", String(partitions), "--record-size", "1024", "--duration", DURATION, "--acks", "all", "--throughput", String(rate), "--json"], { stdout: "pipe", stderr: "ignore" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const j = JSON.parse(out) as { produce: { recordsPerSec: number; latencyMs: { p50: number; p99: number } } };
  return { rps: j.produce.recordsPerSec, p50: j.produce.latencyMs.p50, p99: j.produce.latencyMs.p99 };
}

const load = () => loadavg().map((x) => x.toFixed(2)).join(" / ");
const RATE = Number(arg("rate", "2000"));

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
/** An ack latency: tenths of a millisecond below 100 ms. */
const lat = (ms: number) => (ms < 100 ? `${ms.toFixed(1)} ms` : fmt(ms));
function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${fmt(s[0]!)}, median ${fmt(s[Math.floor(s.length / 2)]!)}, max ${fmt(s.at(-1)!)}`;
}

const peer = await minio();
if (!peer.ok) throw new Error(`MinIO is unavailable: ${peer.reason}`);
const binary = await ensureBinary();
const server = await startMinio();
const nodes: Node[] = [];
const loadBefore = load();
say(`load average (1 / 5 / 15 min) at the start: ${loadBefore}`);
try {
  // --- 1. unavailability --------------------------------------------------------------------------------------
  await server.createBucket("failover");
  const timings = { leaseMs: LEASE, renewMs: RENEW, retryMs: RETRY, ackTimeoutMs: 5000 };
  nodes.push(...pair(server, "failover", timings));
  const [a, b] = nodes as [Node, Node];
  await a.start();
  await primaryOf([a]);
  await b.start();
  await primaryInSync(nodes, 120_000);
  await createTopic((await primaryOf(nodes)).kafkaPort, "probe", 1);
  const prober = new Prober(nodes, "probe");
  prober.start();
  const gaps: Record<"SIGTERM" | "SIGKILL", number[]> = { SIGTERM: [], SIGKILL: [] };
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    for (let run = 1; run <= RUNS; run++) {
      const primary = await primaryInSync(nodes, 120_000);
      await Bun.sleep(1000);
      const t = performance.now();
      await primary.kill(signal);
      await primaryOf(nodes.filter((n) => n !== primary), LEASE * 3);
      await Bun.sleep(1500);
      const gap = prober.gapAround(t);
      gaps[signal].push(gap);
      say(`${signal} run ${run}: ${primary.name} stopped, longest gap between acknowledgements ${fmt(gap)}`);
      await primary.start();
    }
  }
  await prober.stop();
  for (const n of nodes) await n.kill("SIGTERM");

  // --- 2. the cost of synchronous replication -----------------------------------------------------------------
  const cost: { partitions: number; alone: Produced; replicated: Produced; aloneAtRate: Produced; replicatedAtRate: Produced }[] = [];
  for (const partitions of [1, 8]) {
    await server.createBucket(`cost-${partitions}`);
    const [x, y] = pair(server, `cost-${partitions}`, timings);
    nodes.push(x, y);
    await x.start();
    await primaryOf([x]);
    const alone = await benchProduce(binary, x.kafkaPort, "alone", partitions);
    say(`${partitions} partition(s), no standby: ${Math.round(alone.rps)} records/s, p99 ack ${alone.p99} ms`);
    const aloneAtRate = await benchProduce(binary, x.kafkaPort, "alone-rate", partitions, RATE);
    say(`${partitions} partition(s), no standby, ${RATE} records/s: p50 ack ${aloneAtRate.p50} ms, p99 ack ${aloneAtRate.p99} ms`);
    await y.start();
    await primaryInSync([x, y], 120_000);
    const replicated = await benchProduce(binary, x.kafkaPort, "replicated", partitions);
    say(`${partitions} partition(s), standby in sync: ${Math.round(replicated.rps)} records/s, p99 ack ${replicated.p99} ms`);
    const replicatedAtRate = await benchProduce(binary, x.kafkaPort, "replicated-rate", partitions, RATE);
    say(`${partitions} partition(s), standby in sync, ${RATE} records/s: p50 ack ${replicatedAtRate.p50} ms, p99 ack ${replicatedAtRate.p99} ms`);
    cost.push({ partitions, alone, replicated, aloneAtRate, replicatedAtRate });
    await x.kill("SIGTERM");
    await y.kill("SIGTERM");
  }

  const target = { SIGTERM: 2000, SIGKILL: LEASE + RETRY };
  const lines = [
    `## Failover (preliminary: ${RUNS} runs each, lease ${fmt(LEASE)} / renew ${fmt(RENEW)} / retry ${fmt(RETRY)}, one shared machine)`,
    "",
    "| stop of the primary | longest gap between acknowledged produces | target | met |",
    "|---|---|---|---|",
    ...(["SIGTERM", "SIGKILL"] as const).map((s) => `| ${s === "SIGTERM" ? "graceful (SIGTERM)" : "crash (kill -9)"} | ${stats(gaps[s])} | ≤ ${fmt(target[s])} | ${Math.max(...gaps[s]) <= target[s] ? "yes" : "**no**"} |`),
    "",
    "| produce 1 KiB, acks=all, unlimited | no standby | standby in sync | cost |",
    "|---|--:|--:|--:|",
    ...cost.map((c) => `| ${c.partitions} partition${c.partitions > 1 ? "s" : ""} | ${Math.round(c.alone.rps).toLocaleString("en-US")} rec/s (p99 ack ${lat(c.alone.p99)}) | ${Math.round(c.replicated.rps).toLocaleString("en-US")} rec/s (p99 ack ${lat(c.replicated.p99)}) | ${(c.replicated.rps / c.alone.rps).toFixed(2)}× |`),
    "",
    `| produce 1 KiB, acks=all, ${RATE.toLocaleString("en-US")} rec/s | no standby: p50 / p99 ack | standby in sync: p50 / p99 ack |`,
    "|---|--:|--:|",
    ...cost.map((c) => `| ${c.partitions} partition${c.partitions > 1 ? "s" : ""} | ${lat(c.aloneAtRate.p50)} / ${lat(c.aloneAtRate.p99)} | ${lat(c.replicatedAtRate.p50)} / ${lat(c.replicatedAtRate.p99)} |`),
    "",
    `Machine load average (1 / 5 / 15 min): ${loadBefore} at the start, ${load()} at the end.`,
  ];
  console.log(lines.join("\n"));
} finally {
  for (const n of nodes) {
    await n.kill();
    n.cleanup();
  }
  await server.stop();
  rmSync("bench-results/.failover-tmp", { recursive: true, force: true });
}
