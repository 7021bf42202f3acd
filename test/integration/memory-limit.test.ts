// The broker within its memory limit (issue 10), read by real clients. A topic almost three times the limit is read
// from the beginning by three kcat (librdkafka) consumers and a KafkaJS consumer at once, then by consumers that
// stop reading their sockets (kcat stopped with SIGSTOP) beside one that reads. The broker must still be running at
// the end, every record must have reached every consumer (each partition's offsets 0..n-1 once, every value 1 KiB),
// and the broker's RSS sampled from /proc (VmHWM, its high-water mark) must stay under 256 MiB.
// Where the machine lets us create a memory cgroup (root, or a delegated memory controller; cgroup v1 or v2) the
// broker runs in one of 256 MiB with its default flags: the budget comes from the cgroup (the startup line says so)
// and the kernel would OOM-kill it past the limit. Elsewhere the test says why and runs the same workload outside a
// cgroup with --memory-limit 230MiB (what the cgroup would give), asserting the same RSS bound.
// The topic is written by `klite bench produce` (the load is not what is tested; the readers are).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BUN, ROOT, spawnBroker, type SpawnedBroker } from "../helpers/broker.ts";
import { memoryCgroup, rssOf, type MemoryCgroup } from "../helpers/cgroup.ts";
import { describeWithPeer, kcat } from "../helpers/peers.ts";
import { Kafka, logLevel } from "../helpers/kafkajs.ts";

const MiB = 1024 * 1024;
const LIMIT = 256 * MiB;
const PARTITIONS = 4;
const RECORDS = 700_000; // of 1 KiB: ~2.7 times the limit
const RECORD_SIZE = 1024;

const cg = memoryCgroup("klite-test", LIMIT);
const inCgroup = !("unavailable" in cg);
if (!inCgroup) {
  process.stderr.write(`\n[memory-limit test] no memory cgroup (${(cg as { unavailable: string }).unavailable}): running outside one with --memory-limit 230MiB\n`);
}
const KCAT = await kcat();

let broker: SpawnedBroker;
let peak = 0;
let sampler: ReturnType<typeof setInterval> | undefined;
const sample = () => (peak = Math.max(peak, rssOf(broker.pid)?.peak ?? 0));

async function bench(args: string[], timeoutMs: number): Promise<{ records: number; errors: number }> {
  const proc = Bun.spawn([BUN, join(ROOT, "src/main.ts"), "bench", ...args, "--json"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`klite bench ${args[0]} exited ${code}: ${err.trim().split("\n").slice(-5).join("\n")}`);
  return JSON.parse(out).produce;
}

/** Per partition: how many records, whether their offsets were 0..n-1 each once, how many values were not 1 KiB. */
interface Delivery {
  counts: number[];
  contiguous: boolean;
  wrongSize: number;
}

function tally(): { add(partition: number, offset: number, size: number): void; done(): Delivery } {
  const counts = new Array<number>(PARTITIONS).fill(0);
  let contiguous = true;
  let wrongSize = 0;
  return {
    add(p, o, size) {
      if (o !== counts[p]) contiguous = false;
      counts[p]!++;
      if (size !== RECORD_SIZE) wrongSize++;
    },
    done: () => ({ counts, contiguous, wrongSize }),
  };
}

/** What a complete delivery looks like: every record once, in offset order, at its size. */
function expectComplete(d: Delivery): void {
  expect(d.counts.reduce((a, b) => a + b, 0)).toBe(RECORDS);
  expect(d.contiguous).toBe(true);
  expect(d.wrongSize).toBe(0);
}

/** A kcat consumer reading the topic from the beginning to its end (-e), one line per record: partition offset size. */
function kcatConsumer(path: string): { pid: number; lines: () => number; result: Promise<Delivery> } {
  const proc = Bun.spawn([path, "-C", "-b", broker.bootstrap, "-t", "big", "-o", "beginning", "-e", "-q", "-f", "%p %o %S\n"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const t = tally();
  let lines = 0;
  const result = (async () => {
    const timer = setTimeout(() => proc.kill("SIGKILL"), 300_000);
    const errText = new Response(proc.stderr).text();
    const dec = new TextDecoder();
    let rest = "";
    for await (const chunk of proc.stdout) {
      const text = rest + dec.decode(chunk, { stream: true });
      const cut = text.lastIndexOf("\n");
      rest = text.slice(cut + 1);
      if (cut < 0) continue;
      for (const line of text.slice(0, cut).split("\n")) {
        const [p, o, s] = line.split(" ");
        t.add(Number(p), Number(o), Number(s));
        lines++;
      }
    }
    const code = await proc.exited;
    clearTimeout(timer);
    if (code !== 0) throw new Error(`kcat exited ${proc.signalCode ?? code}: ${(await errText).trim().split("\n").slice(-5).join("\n")}`);
    return t.done();
  })();
  return { pid: proc.pid, lines: () => lines, result };
}

/** A KafkaJS consumer (group of its own) reading every partition from the beginning until it has every record. */
async function kafkajsConsumer(group: string): Promise<Delivery> {
  const kafka = new Kafka({ clientId: group, brokers: [broker.bootstrap], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 250 });
  const t = tally();
  let n = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: "big", fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`KafkaJS read ${n} of ${RECORDS} records in 300 s`)), 300_000);
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) t.add(batch.partition, Number(m.offset), m.value?.length ?? -1);
            n += batch.messages.length;
            if (n >= RECORDS) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return t.done();
}

describeWithPeer("kcat", KCAT, () => {
  beforeAll(async () => {
    if (inCgroup) {
      broker = await spawnBroker({ command: (cg as MemoryCgroup).wrap([BUN, join(ROOT, "src/main.ts")]) });
      // The startup line states the budget and where it came from.
      expect(broker.output()).toMatch(/memory limit 230 MiB \(cgroup v[12] memory\.(limit_in_bytes|max) 256 MiB less 26 MiB headroom\)/);
    } else {
      broker = await spawnBroker({ args: ["--memory-limit", "230MiB"] });
      expect(broker.output()).toContain("memory limit 230 MiB (--memory-limit)");
    }
    sampler = setInterval(sample, 200);
    const produced = await bench(["produce", "--brokers", broker.bootstrap, "--topic", "big", "--partitions", String(PARTITIONS), "--records", String(RECORDS), "--record-size", String(RECORD_SIZE), "--acks", "1"], 240_000);
    expect(produced).toMatchObject({ records: RECORDS, errors: 0 });
  }, 300_000);

  afterAll(async () => {
    clearInterval(sampler);
    if (broker && broker.proc.exitCode === null) {
      broker.kill("SIGKILL");
      await broker.exited;
    }
    if (inCgroup) (cg as MemoryCgroup).remove();
  });

  /** The broker runs, was never OOM-killed, and its RSS never reached 256 MiB. */
  function expectWithinLimit(what: string): void {
    expect(broker.proc.exitCode).toBeNull();
    if (inCgroup) expect((cg as MemoryCgroup).oomKills()).toBe(0);
    sample();
    process.stderr.write(`[memory-limit test] ${what}: broker peak RSS ${Math.round(peak / MiB)} MiB (bound ${LIMIT / MiB} MiB, ${inCgroup ? "in a cgroup" : "--memory-limit 230MiB"})\n`);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(LIMIT);
  }

  test(
    "three kcat consumers and a KafkaJS consumer read a topic of 2.7 times the limit from the beginning at once: every record delivered",
    async () => {
      const path = (KCAT as { path: string }).path;
      const readers = [kcatConsumer(path), kcatConsumer(path), kcatConsumer(path)];
      const [a, b, c, js] = await Promise.all([...readers.map((r) => r.result), kafkajsConsumer("memory-limit-js")]);
      for (const d of [a!, b!, c!, js!]) expectComplete(d);
      expectWithinLimit("four consumers at once");
    },
    600_000,
  );

  test(
    "consumers that stop reading their sockets (kcat under SIGSTOP) do not take the broker past its limit; a reading one is served meanwhile and they finish once resumed",
    async () => {
      const path = (KCAT as { path: string }).path;
      const stalled = Array.from({ length: 4 }, () => kcatConsumer(path));
      try {
        // Let each get going (fetches in flight, pages taken), then stop it where it is.
        const deadline = Date.now() + 60_000;
        while (stalled.some((s) => s.lines() < 1000) && Date.now() < deadline) await Bun.sleep(20);
        for (const s of stalled) process.kill(s.pid, "SIGSTOP");
        const reading = kcatConsumer(path);
        expectComplete(await reading.result);
        await Bun.sleep(2000); // the stopped ones keep asking nothing, and their unread responses stay put
        expectWithinLimit("four stopped consumers beside a reading one");
      } finally {
        for (const s of stalled) {
          try {
            process.kill(s.pid, "SIGCONT");
          } catch {
            // already gone: its result says why
          }
        }
      }
      for (const d of await Promise.all(stalled.map((s) => s.result))) expectComplete(d);
      expectWithinLimit("after the stopped consumers resumed and finished");
    },
    600_000,
  );
});
