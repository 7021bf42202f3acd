#!/usr/bin/env bun
// Restart time against WAL size: for each size, a broker process (`bun src/main.ts`, no S3) gets that many bytes of
// 1 KiB records over 4 partitions (64-record batches, acks=all), then is stopped with SIGTERM and started again, and
// killed with SIGKILL and started again. Reported: the time from spawn to the startup line and the recovery time the
// broker itself logs (metadata log + WAL replay, the corruption scan included).
//   bun scripts/bench/restart.ts [--sizes 64,256,1024] (MiB)
import { rmSync } from "node:fs";
import { spawnBroker, tempDir, type SpawnedBroker } from "../../test/helpers/broker.ts";
import { RawClient } from "../../test/helpers/raw-client.ts";
import { buildBatch } from "../../src/protocol/records.ts";

const argv = process.argv.slice(2);
const sizes = (argv[argv.indexOf("--sizes") + 1] && argv.includes("--sizes") ? argv[argv.indexOf("--sizes") + 1]! : "64,256,1024").split(",").map(Number);

async function fill(b: SpawnedBroker, mib: number): Promise<void> {
  const c = await RawClient.connect(b.port);
  await c.request(19, 7, { topics: [{ name: "r", numPartitions: 4, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
  const value = new Uint8Array(1024).fill(120);
  const batch = () => buildBatch(Array.from({ length: 64 }, (_, i) => ({ key: new TextEncoder().encode(`k${i}`), value })));
  const batches = Math.ceil((mib * 1024 * 1024) / (64 * 1030));
  for (let i = 0; i < batches; i += 16) {
    await Promise.all(Array.from({ length: 16 }, (_, k) => c.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 30_000, topicData: [{ name: "r", partitionData: [{ index: (i + k) % 4, records: batch() }] }] })));
  }
  c.close();
}

async function restart(dataDir: string, port: number): Promise<{ wallMs: number; recoveryMs: number; entries: number; b: SpawnedBroker }> {
  const t = performance.now();
  const b = await spawnBroker({ dataDir, port, timeoutMs: 300_000 });
  const wallMs = performance.now() - t;
  const m = /recovered (\d+) metadata records and (\d+) WAL entries from (\d+) segments in (\d+) ms/.exec(b.output());
  return { wallMs, recoveryMs: Number(m?.[4] ?? NaN), entries: Number(m?.[2] ?? NaN), b };
}

console.log("| WAL | entries | after SIGTERM: start / recovery | after SIGKILL: start / recovery |");
console.log("|--:|--:|--:|--:|");
for (const mib of sizes) {
  const dataDir = tempDir("klite-restart-");
  try {
    let b = await spawnBroker({ dataDir });
    const port = b.port;
    await fill(b, mib);
    b.kill("SIGTERM");
    await b.exited;
    const clean = await restart(dataDir, port);
    b = clean.b;
    process.kill(b.pid, "SIGKILL");
    await b.exited;
    const crash = await restart(dataDir, port);
    crash.b.kill("SIGTERM");
    await crash.b.exited;
    console.log(`| ${mib} MiB | ${clean.entries} | ${Math.round(clean.wallMs)} ms / ${clean.recoveryMs} ms | ${Math.round(crash.wallMs)} ms / ${crash.recoveryMs} ms |`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
process.exit(0);
