// kcat (1.7.x on librdkafka 2.0.x, Debian) against the broker in-process and the compiled binary: `kcat -L`
// metadata, 10,000 keyed records with headers produced by one `kcat -P -p <n>` per partition and read back with
// `kcat -C -e` (format and JSON output: keys, values, headers, contiguous offsets, CreateTime timestamps inside
// the test's window), then the same for gzip, snappy, lz4 and zstd, where over the wire (our own Fetch) every
// stored batch must still carry the producer's codec, a valid CRC and exactly the expected records.
import { expect, test } from "bun:test";
import { describeWithPeer, kcat } from "../helpers/peers.ts";
import { createTopic, expectStoredIntact, type CodecName } from "../helpers/stored.ts";
import { describeTargets } from "../helpers/targets.ts";

const dec = new TextDecoder();

/** Record i of a topic (it goes to partition i % partitions): key and a compressible value without tabs or newlines. */
const keyOf = (i: number) => `key-${i}`;
function valueOf(i: number): string {
  const length = 150 + ((i * 131) % 500);
  const unit = `kcat-value-${i};`;
  return unit.repeat(Math.floor(length / unit.length) + 1).slice(0, length);
}
/** kcat -H sets the same headers on every record of one run: a run tag, an empty value and a null value. */
const headerArgs = (run: string) => ["-H", `run=${run}`, "-H", "src=kcat", "-H", "empty=", "-H", "nul"];
const headersOf = (run: string): [string, string | null][] => [["run", run], ["src", "kcat"], ["empty", ""], ["nul", null]];

/**
 * Spawns a command with a hard time limit; never throws, so callers can show stderr. With `failOn`, the process is
 * killed as soon as a stderr line matches (librdkafka errors: a consumer that can never reach the end would
 * otherwise sit out the whole time limit).
 */
async function exec(cmd: string[], opts: { stdin?: string; timeoutMs: number; failOn?: RegExp }): Promise<{ code: number | null; out: string; err: string; timedOut: boolean; failed: string | null }> {
  const proc = Bun.spawn(cmd, { stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore", stdout: "pipe", stderr: "pipe" });
  let timedOut = false;
  let failed: string | null = null;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, opts.timeoutMs);
  let err = "";
  const readErr = (async () => {
    const d = new TextDecoder();
    for await (const chunk of proc.stderr) {
      err += d.decode(chunk, { stream: true });
      const bad: string | undefined = opts.failOn && failed === null ? err.split("\n").find((l) => opts.failOn!.test(l)) : undefined;
      if (bad !== undefined) {
        failed = bad;
        proc.kill("SIGKILL");
      }
    }
  })();
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited, readErr]);
  clearTimeout(timer);
  return { code: timedOut || failed !== null ? null : code, out, err, timedOut, failed };
}

function tail(s: string, lines = 12): string {
  return s.trim().split("\n").slice(-lines).join("\n");
}

/** librdkafka's error and warning log lines (%0..%4|...). */
const RDKAFKA_PROBLEM = /^%[0-4]\|/;

async function mustRun(cmd: string[], opts: { stdin?: string; timeoutMs: number; failOn?: RegExp }): Promise<{ out: string; err: string }> {
  const r = await exec(cmd, opts);
  if (r.failed !== null) throw new Error(`${cmd.join(" ")} was stopped on a librdkafka error: ${r.failed}\nstderr:\n${tail(r.err)}`);
  if (r.timedOut) throw new Error(`${cmd.join(" ")} did not finish within ${opts.timeoutMs} ms; stderr:\n${tail(r.err)}`);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}; stderr:\n${tail(r.err)}`);
  return r;
}

/** librdkafka error/warning lines (%0..%4); a correct broker never causes one. */
function rdkafkaProblems(stderr: string): string[] {
  return stderr.split("\n").filter((l) => RDKAFKA_PROBLEM.test(l));
}

/** Auto-created topics get this many partitions (--default-partitions). */
const DEFAULT_PARTITIONS = 3;

const peer = await kcat();

describeWithPeer("kcat", peer, () => {
  const KCAT = peer.ok ? peer.path : "kcat";

  /** One `kcat -P -p <n>` per partition, all at once; returns the wall-clock window the records were created in. */
  async function produce(bootstrap: string, topic: string, count: number, partitions: number, codec: CodecName): Promise<{ from: number; to: number }> {
    const from = Date.now();
    await Promise.all(
      Array.from({ length: partitions }, async (_, p) => {
        const lines: string[] = [];
        for (let i = p; i < count; i += partitions) lines.push(`${keyOf(i)}\t${valueOf(i)}\n`);
        const args = [KCAT, "-P", "-b", bootstrap, "-t", topic, "-p", String(p), "-K", "\\t", ...headerArgs(`${codec}-p${p}`), "-X", `compression.codec=${codec}`, "-X", "acks=all"];
        const { err } = await mustRun(args, { stdin: lines.join(""), timeoutMs: 120_000 });
        expect(rdkafkaProblems(err)).toEqual([]);
      }),
    );
    return { from, to: Date.now() };
  }

  /** kcat -C -e with a tab-separated format: every record once, offsets 0.. per partition in produce order. */
  async function consumeFormatted(bootstrap: string, topic: string, count: number, partitions: number, codec: CodecName, window: { from: number; to: number }): Promise<void> {
    const { out, err } = await mustRun([KCAT, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-f", "%p\\t%o\\t%k\\t%s\\t%T\\t%h\\n"], { timeoutMs: 120_000, failOn: RDKAFKA_PROBLEM });
    expect(rdkafkaProblems(err)).toEqual([]);
    const lines = out.split("\n").filter((l) => l !== "");
    expect(lines.length).toBe(count);
    const next = new Array<number>(partitions).fill(0);
    for (const line of lines) {
      const f = line.split("\t");
      if (f.length !== 6) throw new Error(`unexpected kcat line: ${line.slice(0, 200)}`);
      const [p, o, k, v, ts, h] = [Number(f[0]), Number(f[1]), f[2]!, f[3]!, Number(f[4]), f[5]!];
      if (!(p >= 0 && p < partitions)) throw new Error(`record from partition ${p}: ${line.slice(0, 200)}`);
      if (o !== next[p]) throw new Error(`partition ${p}: offset ${o} where ${next[p]} was expected (${o < next[p]! ? "duplicate" : "gap"})`);
      const i = p + o * partitions;
      if (k !== keyOf(i) || v !== valueOf(i)) throw new Error(`${topic}-${p}@${o}: got ${k}=${v.slice(0, 40)}..., expected ${keyOf(i)}=${valueOf(i).slice(0, 40)}...`);
      if (!(ts >= window.from && ts <= window.to)) throw new Error(`${topic}-${p}@${o}: timestamp ${ts} outside the produce window ${window.from}..${window.to}`);
      if (h !== `run=${codec}-p${p},src=kcat,empty=,nul=NULL`) throw new Error(`${topic}-${p}@${o}: headers ${h}`);
      next[p]!++;
    }
    expect(next.reduce((a, b) => a + b, 0)).toBe(count);
  }

  /** kcat -C -e -J: timestamp types (CreateTime) and headers with their null/empty distinction. */
  async function consumeJson(bootstrap: string, topic: string, count: number, partitions: number, codec: CodecName, window: { from: number; to: number }): Promise<void> {
    const { out, err } = await mustRun([KCAT, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J"], { timeoutMs: 120_000, failOn: RDKAFKA_PROBLEM });
    expect(rdkafkaProblems(err)).toEqual([]);
    const msgs = out.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
    expect(msgs.length).toBe(count);
    const seen = new Set<string>();
    for (const m of msgs) {
      const i = m.partition + m.offset * partitions;
      const id = `${m.partition}@${m.offset}`;
      if (seen.has(id)) throw new Error(`duplicate ${id}`);
      seen.add(id);
      if (m.topic !== topic || m.key !== keyOf(i) || m.payload !== valueOf(i)) throw new Error(`${id}: ${JSON.stringify(m).slice(0, 300)}`);
      if (m.tstype !== "create" || !(m.ts >= window.from && m.ts <= window.to)) throw new Error(`${id}: timestamp ${m.tstype} ${m.ts}, window ${window.from}..${window.to}`);
      expect(m.headers).toEqual(headersOf(`${codec}-p${m.partition}`).flat());
    }
  }

  /** Every stored batch as the producer sent it, and every record with its key, value, timestamp and headers. */
  async function checkStored(port: number, topic: string, count: number, partitions: number, codec: CodecName, window: { from: number; to: number }): Promise<void> {
    for (let p = 0; p < partitions; p++) {
      const s = await expectStoredIntact(port, topic, p, partitions, count, codec);
      const headers = headersOf(`${codec}-p${p}`);
      s.records.forEach((r, k) => {
        const i = p + k * partitions;
        const where = `${topic}-${p}@${k}`;
        if (dec.decode(r.key!) !== keyOf(i) || dec.decode(r.value!) !== valueOf(i)) throw new Error(`${where}: stored ${dec.decode(r.key!)}=${dec.decode(r.value!).slice(0, 40)}...`);
        if (!(r.timestamp >= window.from && r.timestamp <= window.to)) throw new Error(`${where}: stored timestamp ${r.timestamp} outside ${window.from}..${window.to}`);
        expect(r.headers.map((h) => [h.key, h.value === null ? null : dec.decode(h.value)])).toEqual(headers);
      });
    }
  }

  describeTargets({ defaultPartitions: DEFAULT_PARTITIONS }, (target) => {

    test("kcat -L lists the broker's advertised address, the topic and its partitions", async () => {
      const t = target();
      await createTopic(t.port, "kcat-listed", 4);
      const { out, err } = await mustRun([KCAT, "-L", "-b", t.bootstrap], { timeoutMs: 30_000 });
      expect(rdkafkaProblems(err)).toEqual([]);
      expect(out).toContain(`broker 0 at 127.0.0.1:${t.port}`);
      expect(out).toContain(`topic "kcat-listed" with 4 partitions:`);
      for (let p = 0; p < 4; p++) expect(out).toContain(`partition ${p}, leader 0, replicas: 0, isrs: 0`);

      const json = JSON.parse((await mustRun([KCAT, "-L", "-b", t.bootstrap, "-t", "kcat-listed", "-J"], { timeoutMs: 30_000 })).out);
      expect(json.brokers).toEqual([{ id: 0, name: `127.0.0.1:${t.port}` }]);
      expect(json.controllerid).toBe(0);
      expect(json.topics.length).toBe(1);
      expect(json.topics[0].topic).toBe("kcat-listed");
      expect(json.topics[0].error).toBeUndefined();
      expect(json.topics[0].partitions.map((p: { partition: number; leader: number }) => [p.partition, p.leader])).toEqual([[0, 0], [1, 0], [2, 0], [3, 0]]);
    }, 60_000);

    test("10,000 records over 4 partitions (one kcat -P per partition) read back exactly with kcat -C", async () => {
      const t = target();
      await createTopic(t.port, "kcat-records", 4);
      const window = await produce(t.bootstrap, "kcat-records", 10_000, 4, "none");
      await checkStored(t.port, "kcat-records", 10_000, 4, "none", window);
      await consumeFormatted(t.bootstrap, "kcat-records", 10_000, 4, "none", window);
      await consumeJson(t.bootstrap, "kcat-records", 10_000, 4, "none", window);
    }, 240_000);

    for (const codec of ["gzip", "snappy", "lz4", "zstd"] as const) {
      test(`${codec}: kcat's batches are stored intact and still ${codec}-compressed, and read back exactly`, async () => {
        const t = target();
        // The producers' Metadata requests auto-create the topic with --default-partitions partitions.
        const topic = `kcat-${codec}`;
        const window = await produce(t.bootstrap, topic, 3_000, DEFAULT_PARTITIONS, codec);
        await checkStored(t.port, topic, 3_000, DEFAULT_PARTITIONS, codec, window);
        await consumeFormatted(t.bootstrap, topic, 3_000, DEFAULT_PARTITIONS, codec, window);
      }, 180_000);
    }
  });
});
