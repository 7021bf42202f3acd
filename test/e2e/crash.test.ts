// The crash test: the compiled klite under a real Java producer (acks=all, idempotent, several requests in flight,
// unique keys), SIGKILLed every couple of seconds and restarted on the same port and data dir. Every record the
// producer saw acknowledged must be in the log exactly once, at exactly the partition and offset it was acknowledged
// at, and no key may appear twice anywhere (retries across the crashes must be deduplicated).
import { expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { spawnBroker, tempDir, waitFor, type SpawnedBroker } from "../helpers/broker.ts";
import { JAVA_PEER_NAME, javaClient, runJava, spawnJava, type JavaProcess } from "../helpers/java-peer.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { readTopic } from "../helpers/read-topic.ts";

const java = await javaClient();

const TOPIC = "crash";
const PARTITIONS = 3;
const CRASHES = 6;

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

describeWithPeer(JAVA_PEER_NAME, java, () => {
  test(`SIGKILL ×${CRASHES} under an acks=all idempotent Java producer: every acked record exactly once, at its acked offset`, async () => {
    const command = [await ensureBinary()];
    const dataDir = tempDir("klite-crash-data-");
    const workDir = tempDir("klite-crash-work-");
    const ackedFile = join(workDir, "acked.txt");
    let broker: SpawnedBroker | null = null;
    let streamer: JavaProcess | null = null;
    const log: string[] = [];
    const note = (s: string) => log.push(`${new Date().toISOString()} ${s}`);
    try {
      broker = await spawnBroker({ command, dataDir });
      const port = broker.port;
      const bootstrap = broker.bootstrap;
      await runJava(["create-topic", "--bootstrap", bootstrap, "--topic", TOPIC, "--partitions", String(PARTITIONS)]);
      streamer = spawnJava(["stream", "--bootstrap", bootstrap, "--topic", TOPIC, "--acked-file", ackedFile, "--interval-ms", "2"]);
      const s = streamer;

      /** Waits until `n` more records are acknowledged: the producer is (again) making progress. */
      const progress = async (n: number, what: string) => {
        const before = ackedLines(ackedFile).length;
        await waitFor(() => {
          if (s.proc.exitCode !== null) throw new Error(`the Java streamer exited (${s.proc.exitCode}):\n${s.output().slice(-3000)}`);
          return ackedLines(ackedFile).length >= before + n;
        }, `${n} more acknowledged records ${what}`, 60_000);
      };

      for (let crash = 1; crash <= CRASHES; crash++) {
        await progress(200, crash === 1 ? "after the start" : `after restart ${crash - 1}`);
        await Bun.sleep(1000 + Math.floor(Math.random() * 1500)); // a couple of seconds of traffic in all
        note(`crash ${crash}: SIGKILL with ${ackedLines(ackedFile).length} acked`);
        await sigkill(broker);
        await Bun.sleep(Math.floor(Math.random() * 500)); // down for a moment: the producer sees refused connections
        broker = await spawnBroker({ command, dataDir, port, timeoutMs: 30_000 });
        note(`crash ${crash}: restarted`);
      }
      await progress(200, `after restart ${CRASHES}`);

      // Stop the producer: it flushes, so every record it sent ends up acknowledged (and written) or failed.
      s.kill("SIGTERM");
      const code = await Promise.race([s.exited, Bun.sleep(120_000).then(() => "timeout" as const)]);
      if (code === "timeout") throw new Error(`the Java streamer did not exit within 120 s of SIGTERM:\n${s.output().slice(-3000)}`);
      expect(code).toBe(0);
      const summary = /stream: done: sent (\d+) acked (\d+) failed (\d+)/.exec(s.output());
      expect(summary).not.toBeNull();
      const [sent, acked, failed] = summary!.slice(1).map(Number) as [number, number, number];
      note(`streamer: sent ${sent} acked ${acked} failed ${failed}`);
      const warnings = s.output().split("\n").filter((l) => l.trim() !== "" && !l.startsWith("stream: "));
      const errors = new Set([...s.output().matchAll(/Error: ([A-Z_]+)/g)].map((m) => m[1]));
      if (warnings.length) note(`streamer client log: ${warnings.length} lines, produce errors seen: ${[...errors].join(", ") || "none"}`);

      // One more crash with no traffic: what was acknowledged last must survive it too.
      await sigkill(broker);
      broker = await spawnBroker({ command, dataDir, port, timeoutMs: 30_000 });

      const lines = ackedLines(ackedFile);
      expect(lines.length).toBe(acked);
      const want = new Map<string, string>(); // key -> "partition offset"
      for (const line of lines) {
        const [key, partition, offset] = line.split(" ");
        if (!key || partition === undefined || offset === undefined) throw new Error(`bad line in the acked file: ${JSON.stringify(line)}`);
        if (want.has(key)) throw new Error(`${key} was acknowledged twice (${want.get(key)} and ${partition} ${offset})`);
        want.set(key, `${partition} ${offset}`);
      }

      const topic = await readTopic(port, TOPIC);
      expect([...topic.keys()].sort()).toEqual([...Array(PARTITIONS).keys()]);
      const found = new Map<string, string>();
      let total = 0;
      for (const [partition, recs] of topic) {
        recs.forEach((r, i) => {
          if (r.offset !== i) throw new Error(`partition ${partition}: record ${i} has offset ${r.offset} (gap or reordering in the log)`);
          const key = new TextDecoder().decode(r.key ?? new Uint8Array());
          const at = `${partition} ${r.offset}`;
          if (found.has(key)) throw new Error(`key ${key} appears twice in the log: at ${found.get(key)} and at ${at}`);
          found.set(key, at);
          total++;
        });
      }
      let missing = 0;
      let moved = 0;
      const problems: string[] = [];
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
      note(`log: ${total} records, ${want.size} acknowledged, ${missing} missing, ${moved} at another offset`);
      if (problems.length) throw new Error(`${missing} acknowledged records missing, ${moved} at another partition/offset:\n${problems.join("\n")}`);
      // A correct broker gives the producer no reason to fail a record: each crash only delays acknowledgements.
      expect(failed).toBe(0);
      expect(acked).toBe(sent);
      expect(acked).toBeGreaterThanOrEqual(200 * (CRASHES + 1));
      // Records in the log that were never acknowledged can only be ones the streamer sent but lost the reply for.
      expect(total).toBe(want.size);
      process.stdout.write(`\n[crash test] ${log.join("\n[crash test] ")}\n`);
    } catch (e) {
      process.stderr.write(`\n[crash test] ${log.join("\n[crash test] ")}\n[crash test] broker output:\n${broker?.output().slice(-3000)}\n[crash test] streamer output:\n${streamer?.output().slice(-3000)}\n`);
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
  }, 280_000);
});
