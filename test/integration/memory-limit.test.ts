// The broker inside a memory cgroup (issue 10): started with its default flags in a cgroup of 256 MiB, it takes a
// topic almost three times that size and serves it from the beginning to three consumers at once. It must still be
// running at the end, without an OOM kill, its peak RSS within the cgroup's limit, and every record must have reached
// every consumer. Creating a cgroup needs root (or a delegated memory controller); where the machine does not allow
// it, the test says why and is skipped.
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BUN, ROOT, spawnBroker, type SpawnedBroker } from "../helpers/broker.ts";
import { memoryCgroup, rssOf, type MemoryCgroup } from "../helpers/cgroup.ts";

const MiB = 1024 * 1024;
const LIMIT = 256 * MiB;
const RECORDS = 700_000; // of 1 KiB: ~2.7 times the limit
const CONSUMERS = 3;

const cg = memoryCgroup("klite-test", LIMIT);
const available = !("unavailable" in cg);
if (!available) process.stderr.write(`\n[memory-limit test] skipped: ${(cg as { unavailable: string }).unavailable}\n`);

async function bench(args: string[], timeoutMs: number): Promise<{ records: number; errors: number }> {
  const proc = Bun.spawn([BUN, join(ROOT, "src/main.ts"), "bench", ...args, "--json"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`klite bench ${args[0]} exited ${code}: ${err.trim().split("\n").slice(-5).join("\n")}`);
  const j = JSON.parse(out);
  return j.produce ?? j.consume;
}

(available ? describe : describe.skip)("broker in a 256 MiB memory cgroup", () => {
  let broker: SpawnedBroker | null = null;
  afterAll(async () => {
    if (broker && broker.proc.exitCode === null) {
      broker.kill("SIGKILL");
      await broker.exited;
    }
    (cg as MemoryCgroup).remove();
  });

  test(
    "serves a topic of 2.7 times its memory from the beginning to three consumers at once, every record delivered",
    async () => {
      const group = cg as MemoryCgroup;
      broker = await spawnBroker({ command: group.wrap([BUN, join(ROOT, "src/main.ts")]) });
      // The startup line states the budget and where it came from.
      expect(broker.output()).toMatch(/memory limit 230 MiB \(cgroup v[12] memory\.(limit_in_bytes|max) 256 MiB less 26 MiB headroom\)/);
      let peak = 0;
      const sampler = setInterval(() => (peak = Math.max(peak, rssOf(broker!.pid)?.peak ?? 0)), 200);
      try {
        const produced = await bench(["produce", "--brokers", broker.bootstrap, "--topic", "big", "--partitions", "4", "--records", String(RECORDS), "--record-size", "1024", "--acks", "1"], 240_000);
        expect(produced).toMatchObject({ records: RECORDS, errors: 0 });
        const consumed = await Promise.all(
          Array.from({ length: CONSUMERS }, () => bench(["consume", "--brokers", broker!.bootstrap, "--topic", "big", "--records", String(RECORDS), "--duration", "240s"], 300_000)),
        );
        for (const c of consumed) expect(c).toMatchObject({ records: RECORDS, errors: 0 });
      } finally {
        clearInterval(sampler);
      }
      expect(broker.proc.exitCode).toBeNull();
      expect(group.oomKills()).toBe(0);
      peak = Math.max(peak, rssOf(broker.pid)?.peak ?? 0);
      expect(peak).toBeLessThan(LIMIT);
      process.stderr.write(`[memory-limit test] broker peak RSS ${Math.round(peak / MiB)} MiB in a ${LIMIT / MiB} MiB cgroup\n`);
    },
    600_000,
  );
});
