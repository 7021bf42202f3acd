// The compiled executable, as users run it: copied into an empty directory and started with no Bun or Node on
// PATH. Produces and consumes through it (KafkaJS and its own `bench` command), checks the CLI (version, help,
// flags, KLITE_ variables, bad values) and the health endpoints, and stops it with SIGTERM.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kafka, logLevel } from "../helpers/kafkajs.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { spawnBroker, type SpawnedBroker } from "../helpers/broker.ts";
import { readTopic } from "../helpers/read-topic.ts";

process.env.KAFKAJS_NO_PARTITIONER_WARNING = "1";
let dir: string;
let exe: string;
const NO_RUNTIME_ENV = { PATH: "/nonexistent", HOME: "/nonexistent" };

function runExe(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawnSync([exe, ...args], { cwd: dir, env: { ...NO_RUNTIME_ENV, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString(), err: p.stderr.toString() };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "klite-bin-"));
  exe = join(dir, "klite");
  copyFileSync(await ensureBinary(), exe);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("dist/klite in an empty directory without Bun or Node", () => {
  test("--version and --help (every flag, its variable and default)", () => {
    const v = runExe(["--version"]);
    expect(v.code).toBe(0);
    expect(v.out.trim()).toMatch(/^klite \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}(-dirty)?|unknown)\)$/);
    const h = runExe(["--help"]);
    expect(h.code).toBe(0);
    for (const s of ["--listen", "KLITE_LISTEN", ":9092", "--data-dir", "./data", "--wal-sync-interval", "0ms", "--max-request-size", "100MiB", "--auto-create-topics", "--health-addr"]) {
      expect(h.out).toContain(s);
    }
  });

  test("bad values exit non-zero naming the flag (or its variable)", () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [["--wal-sync-interval", "soon"], {}, /--wal-sync-interval/],
      [["--listen", "nowhere"], {}, /--listen/],
      [["--no-such-flag", "1"], {}, /unknown flag --no-such-flag/],
      [[], { KLITE_DEFAULT_PARTITIONS: "many" }, /--default-partitions \(KLITE_DEFAULT_PARTITIONS\)/],
      [["--node-id", "-3"], {}, /--node-id/],
    ];
    for (const [args, env, re] of cases) {
      const r = runExe(["--data-dir", join(dir, "never"), ...args], env);
      expect(r.code).not.toBe(0);
      expect(r.err + r.out).toMatch(re);
    }
    expect(existsSync(join(dir, "never"))).toBe(false); // refused before touching anything
  });

  test("serves producers and consumers, health endpoints, and stops cleanly on SIGTERM", async () => {
    const broker: SpawnedBroker = await spawnBroker({
      command: [exe],
      cwd: dir,
      dataDir: "./data",
      args: ["--health-addr", "127.0.0.1:0"],
      env: { ...NO_RUNTIME_ENV, KLITE_DEFAULT_PARTITIONS: "3" },
    });
    try {
      expect(existsSync(join(dir, "data", "meta.properties"))).toBe(true);
      const health = /health on ([\d.]+):(\d+)/.exec(broker.output())!;
      const base = `http://${health[1]}:${health[2]}`;
      expect((await fetch(`${base}/livez`)).status).toBe(200);
      const ready = await fetch(`${base}/readyz`);
      expect([ready.status, (await ready.text()).trim()]).toEqual([200, "primary"]);

      const kafka = new Kafka({ brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ idempotent: true });
      await producer.connect();
      for (let k = 0; k < 10; k++) {
        await producer.send({ topic: "bin", acks: -1, messages: Array.from({ length: 1000 }, (_, j) => ({ key: `k${k * 1000 + j}`, value: `v${k * 1000 + j}` })) });
      }
      await producer.disconnect();
      const parts = await readTopic(broker.port, "bin");
      expect(parts.size).toBe(3); // auto-created with KLITE_DEFAULT_PARTITIONS
      const keys = new Set<string>();
      for (const recs of parts.values()) {
        recs.forEach((r, i) => expect(r.offset).toBe(i));
        for (const r of recs) keys.add(new TextDecoder().decode(r.key!));
      }
      expect(keys.size).toBe(10_000);

      // The load generator ships in the same executable.
      const b = runExe(["bench", "produce-consume", "--brokers", broker.bootstrap, "--topic", "bin-bench", "--records", "2000", "--throughput", "4000", "--json"]);
      expect(b.code).toBe(0);
      const summary = JSON.parse(b.out);
      expect(summary.produce).toMatchObject({ records: 2000, errors: 0 });
      expect(summary.consume).toMatchObject({ records: 2000, errors: 0 });
    } finally {
      broker.kill("SIGTERM");
      expect(await broker.exited).toBe(0);
    }
    expect(broker.output()).toContain("shut down cleanly");
  }, 120_000);
});
