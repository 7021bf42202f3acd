// The crash soak (test/e2e/crash.test.ts, scripts/soak): a broker (the compiled binary by default) under a real Java
// producer (acks=all, idempotent, several requests in flight, unique keys) is SIGKILLed every couple of seconds and
// restarted on the same port and data dir, `cycles` times. Then every record the producer saw acknowledged must be in
// the log exactly once, at exactly the partition and offset it was acknowledged at, no key may appear twice anywhere,
// and the log holds nothing else. Returns what it saw; throws with the details when any of that does not hold.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { spawnBroker, tempDir, waitFor, type SpawnedBroker } from "./broker.ts";
import { runJava, spawnJava, type JavaProcess } from "./java-peer.ts";
import { readTopic } from "./read-topic.ts";

export interface SoakOptions {
  cycles: number;
  /** The broker command (default: bun src/main.ts); the compiled binary in the e2e test. */
  command?: string[];
  partitions?: number;
  /** Extra broker flags. */
  args?: string[];
  log?: (line: string) => void;
}

export interface SoakResult {
  cycles: number;
  sent: number;
  acked: number;
  failed: number;
  records: number;
  /** Restart times (spawn to the startup line), ms. */
  restartsMs: number[];
  seconds: number;
}

function ackedLines(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "");
}

async function sigkill(b: SpawnedBroker): Promise<void> {
  try {
    process.kill(b.pid, "SIGKILL");
  } catch {
    // already gone
  }
  await b.exited;
}

export async function soak(opts: SoakOptions): Promise<SoakResult> {
  const topic = "crash";
  const partitions = opts.partitions ?? 3;
  const log = opts.log ?? (() => {});
  const dataDir = tempDir("klite-crash-data-");
  const workDir = tempDir("klite-crash-work-");
  const ackedFile = join(workDir, "acked.txt");
  const t0 = performance.now();
  const restartsMs: number[] = [];
  let broker: SpawnedBroker | null = null;
  let streamer: JavaProcess | null = null;
  const start = async (port?: number) => {
    const t = performance.now();
    const b = await spawnBroker({ command: opts.command, dataDir, port, args: opts.args, timeoutMs: 60_000 });
    if (port !== undefined) restartsMs.push(performance.now() - t);
    return b;
  };
  try {
    broker = await start();
    const port = broker.port;
    await runJava(["create-topic", "--bootstrap", broker.bootstrap, "--topic", topic, "--partitions", String(partitions)]);
    streamer = spawnJava(["stream", "--bootstrap", broker.bootstrap, "--topic", topic, "--acked-file", ackedFile, "--interval-ms", "2"]);
    const s = streamer;

    /** Waits until `n` more records are acknowledged: the producer is (again) making progress. */
    const progress = async (n: number, what: string) => {
      const before = ackedLines(ackedFile).length;
      await waitFor(() => {
        if (s.proc.exitCode !== null) throw new Error(`the Java streamer exited (${s.proc.exitCode}):\n${s.output().slice(-3000)}`);
        return ackedLines(ackedFile).length >= before + n;
      }, `${n} more acknowledged records ${what}`, 60_000);
    };

    for (let crash = 1; crash <= opts.cycles; crash++) {
      await progress(200, crash === 1 ? "after the start" : `after restart ${crash - 1}`);
      await Bun.sleep(1000 + Math.floor(Math.random() * 1500)); // a couple of seconds of traffic in all
      log(`crash ${crash}: SIGKILL with ${ackedLines(ackedFile).length} acked`);
      await sigkill(broker);
      await Bun.sleep(Math.floor(Math.random() * 500)); // down for a moment: the producer sees refused connections
      broker = await start(port);
      log(`crash ${crash}: restarted in ${Math.round(restartsMs.at(-1)!)} ms`);
    }
    await progress(200, `after restart ${opts.cycles}`);

    // Stop the producer: it flushes, so every record it sent ends up acknowledged (and written) or failed.
    s.kill("SIGTERM");
    const code = await Promise.race([s.exited, Bun.sleep(120_000).then(() => "timeout" as const)]);
    if (code === "timeout") throw new Error(`the Java streamer did not exit within 120 s of SIGTERM:\n${s.output().slice(-3000)}`);
    if (code !== 0) throw new Error(`the Java streamer exited ${code}:\n${s.output().slice(-3000)}`);
    const summary = /stream: done: sent (\d+) acked (\d+) failed (\d+)/.exec(s.output());
    if (!summary) throw new Error(`no summary from the Java streamer:\n${s.output().slice(-3000)}`);
    const [sent, acked, failed] = summary.slice(1).map(Number) as [number, number, number];
    log(`streamer: sent ${sent} acked ${acked} failed ${failed}`);

    // One more crash with no traffic: what was acknowledged last must survive it too.
    await sigkill(broker);
    broker = await start(port);

    const lines = ackedLines(ackedFile);
    if (lines.length !== acked) throw new Error(`the acked file has ${lines.length} lines, the streamer says ${acked}`);
    const want = new Map<string, string>(); // key -> "partition offset"
    for (const line of lines) {
      const [key, partition, offset] = line.split(" ");
      if (!key || partition === undefined || offset === undefined) throw new Error(`bad line in the acked file: ${JSON.stringify(line)}`);
      if (want.has(key)) throw new Error(`${key} was acknowledged twice (${want.get(key)} and ${partition} ${offset})`);
      want.set(key, `${partition} ${offset}`);
    }
    const read = await readTopic(port, topic);
    const found = new Map<string, string>();
    let total = 0;
    for (const [partition, recs] of read) {
      recs.forEach((r, i) => {
        if (r.offset !== i) throw new Error(`partition ${partition}: record ${i} has offset ${r.offset} (gap or reordering in the log)`);
        const key = new TextDecoder().decode(r.key ?? new Uint8Array());
        const at = `${partition} ${r.offset}`;
        if (found.has(key)) throw new Error(`key ${key} appears twice in the log: at ${found.get(key)} and at ${at}`);
        found.set(key, at);
        total++;
      });
    }
    const problems: string[] = [];
    let missing = 0;
    let moved = 0;
    for (const [key, at] of want) {
      const got = found.get(key);
      if (got === undefined) {
        missing++;
        if (problems.length < 10) problems.push(`${key} acknowledged at ${at} is missing`);
      } else if (got !== at) {
        moved++;
        if (problems.length < 10) problems.push(`${key} acknowledged at ${at} is at ${got}`);
      }
    }
    log(`log: ${total} records, ${want.size} acknowledged, ${missing} missing, ${moved} at another offset`);
    if (problems.length) throw new Error(`${missing} acknowledged records missing, ${moved} at another partition/offset:\n${problems.join("\n")}`);
    // A correct broker gives the producer no reason to fail a record: each crash only delays acknowledgements.
    if (failed !== 0 || acked !== sent) throw new Error(`the producer saw ${failed} records fail (sent ${sent}, acked ${acked})`);
    // Records in the log that were never acknowledged can only be ones the streamer sent but lost the reply for.
    if (total !== want.size) throw new Error(`the log holds ${total} records, ${want.size} were acknowledged`);
    return { cycles: opts.cycles, sent, acked, failed, records: total, restartsMs, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    log(`broker output:\n${broker?.output().slice(-3000)}`);
    log(`streamer output:\n${streamer?.output().slice(-3000)}`);
    throw e;
  } finally {
    if (streamer && streamer.proc.exitCode === null) {
      streamer.kill("SIGKILL");
      await streamer.exited;
    }
    if (broker && broker.proc.exitCode === null) {
      process.kill(broker.pid, "SIGTERM");
      const done = await Promise.race([broker.exited, Bun.sleep(15_000).then(() => null)]);
      if (done === null) await sigkill(broker);
    }
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  }
}
