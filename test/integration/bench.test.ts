// `klite bench`: the load generator against the broker in-process (runBench) and through the CLI (a spawned
// `bun src/main.ts bench ...` printing JSON). Checks that the counts add up, never how fast anything was.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { runBench, type BenchOptions } from "../../src/bench/run.ts";
import { Histogram } from "../../src/bench/histogram.ts";
import { Compression } from "../../src/protocol/compression.ts";
import { BUN, ROOT, startBroker, type TestBroker } from "../helpers/broker.ts";
import { readTopic } from "../helpers/read-topic.ts";

let broker: TestBroker;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker.stop();
  broker.cleanup();
});

function options(o: Partial<BenchOptions>): BenchOptions {
  return {
    mode: "produce", brokers: [broker.bootstrap], topic: "bench", partitions: 1, producers: 1, consumers: 1, recordSize: 100,
    records: 1000, durationS: null, throughput: -1, acks: -1, compression: 0, lingerMs: 5, batchSize: 16384, warmupRecords: 0,
    offset: "earliest", ...o,
  };
}

describe("runBench against the broker in-process", () => {
  test("produce: every record acknowledged, stored once, latency counted per record", async () => {
    const r = await runBench(options({ topic: "p3", partitions: 3, producers: 2, records: 5000, recordSize: 200, acks: 1 }));
    expect(r.produce).toMatchObject({ records: 5000, errors: 0 });
    expect(r.produce!.latencyMs.samples).toBe(5000);
    expect(r.produce!.latencyMs.p50).toBeLessThanOrEqual(r.produce!.latencyMs.max);
    const parts = await readTopic(broker.port, "p3");
    expect(parts.size).toBe(3);
    let n = 0;
    for (const recs of parts.values()) {
      n += recs.length;
      for (const rec of recs) expect(rec.value!.length).toBe(200);
    }
    expect(n).toBe(5000);
  });

  test("warm-up records are sent but not measured", async () => {
    const r = await runBench(options({ topic: "warm", records: 3000, warmupRecords: 1000 }));
    expect(r.produce).toMatchObject({ records: 2000, errors: 0 });
    expect(r.produce!.latencyMs.samples).toBe(2000);
    expect([...(await readTopic(broker.port, "warm")).values()][0]!.length).toBe(3000);
  });

  test("consume from the earliest offset reads what was produced, compressed or not", async () => {
    await runBench(options({ topic: "c2", partitions: 2, records: 4000, compression: Compression.lz4 }));
    const r = await runBench(options({ mode: "consume", topic: "c2", records: 4000, consumers: 2 }));
    expect(r.consume).toMatchObject({ records: 4000, errors: 0 });
    expect(r.consume!.mibPerSec).toBeGreaterThan(0);
    expect(r.consume!.e2eLatencyMs).toBeNull();
  });

  test("produce-consume: consumers see every record, each measured one with an end-to-end latency", async () => {
    const r = await runBench(options({ mode: "produce-consume", topic: "e2e", partitions: 2, records: 3000, throughput: 3000, acks: 1, warmupRecords: 500 }));
    expect(r.produce).toMatchObject({ records: 2500, errors: 0 });
    expect(r.consume).toMatchObject({ records: 3000, errors: 0 }); // warm-up records are consumed too
    expect(r.consume!.e2eLatencyMs!.samples).toBe(2500);
  });

  test("acks=0 produces without waiting for responses", async () => {
    const r = await runBench(options({ topic: "a0", records: 2000, acks: 0 }));
    expect(r.produce).toMatchObject({ records: 2000, errors: 0 });
  });

  test("a missing topic is an error for consume, not an endless wait", async () => {
    await expect(runBench(options({ mode: "consume", topic: "nope" }))).rejects.toThrow(/does not exist/);
  });
});

describe("klite bench on the command line", () => {
  // Asynchronous: the broker under test runs in this process's event loop.
  const cli = async (args: string[]) => {
    const p = Bun.spawn([BUN, join(ROOT, "src/main.ts"), ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, out, err };
  };

  test("produce, consume and produce-consume print a JSON summary with --json", async () => {
    const common = ["--brokers", broker.bootstrap, "--topic", "cli", "--record-size", "512", "--json"];
    const p = await cli(["bench", "produce", ...common, "--records", "3000", "--partitions", "2", "--acks", "all", "--compression", "zstd"]);
    expect(p.code).toBe(0);
    const produced = JSON.parse(p.out);
    expect(produced.mode).toBe("produce");
    expect(produced.produce).toMatchObject({ records: 3000, errors: 0 });
    const c = await cli(["bench", "consume", ...common, "--records", "3000"]);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out).consume).toMatchObject({ records: 3000, errors: 0 });
    const pc = await cli(["bench", "produce-consume", ...common, "--duration", "2s", "--throughput", "1000", "--acks", "1"]);
    expect(pc.code).toBe(0);
    const both = JSON.parse(pc.out);
    expect(both.produce.errors + both.consume.errors).toBe(0);
    expect(both.consume.records).toBe(both.produce.records);
    expect(both.consume.e2eLatencyMs.samples).toBe(both.produce.records);
    // A progress line a second, on stderr. Which seconds they are stamped with and whether a window saw a record
    // depends on how busy the machine is (a tick late by half a second prints "2s"), so each line is checked for its
    // parts and there must be at least one.
    const progress = pc.err.split("\n").filter((l) => / \| errors \d+$/.test(l));
    expect(progress.length).toBeGreaterThan(0);
    for (const l of progress) expect(l).toMatch(/^\s*\d+s \| produced [\d,]+ rec\/s [\d.]+ MiB\/s, ack (p50 .* ms|-) \| consumed [\d,]+ rec\/s [\d.]+ MiB\/s \| e2e (p50 .* ms|-) \| errors 0$/);
  }, 180_000); // three CLI processes on a machine that may be running the rest of the suite

  test("bad flags exit 1 naming the flag; --help lists the bench commands", async () => {
    for (const [args, re] of [
      [["bench", "produce", "--acks", "2"], /--acks/],
      [["bench", "produce", "--throughput", "0"], /--throughput/],
      [["bench", "consume", "--no-such", "1"], /unknown flag --no-such/],
      [["bench", "produce", "--brokers", "nowhere"], /--brokers/],
    ] as [string[], RegExp][]) {
      const r = await cli(args);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(re);
    }
    const h = await cli(["--help"]);
    expect(h.code).toBe(0);
    expect(h.out).toContain("bench");
    expect(h.out).toContain("--listen");
    expect((await cli(["bench", "produce", "--help"])).out).toContain("--warmup-records");
  });
});

test("histogram quantiles are within 2% of the exact ones", () => {
  const h = new Histogram();
  const xs = Array.from({ length: 20000 }, (_, i) => 0.01 + (i % 1000) * (i % 7) * 0.37);
  for (const x of xs) h.record(x);
  xs.sort((a, b) => a - b);
  for (const q of [0.5, 0.95, 0.99]) {
    const exact = xs[Math.ceil(q * xs.length) - 1]!;
    expect(Math.abs(h.quantile(q) - exact)).toBeLessThanOrEqual(exact * 0.02 + 0.001);
  }
  expect(h.maxMs).toBe(xs[xs.length - 1]!);
});
