// Failover with real peers: two compiled klite processes on one MinIO bucket, an idempotent acks=all Java producer
// on both bootstrap addresses. The primary is killed with SIGKILL over and over (each time the other node, since
// the killed one comes back as the standby), and once stopped with SIGTERM: every acknowledged record must be in the
// log exactly once, at the partition and offset it was acknowledged at.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { tempDir, waitFor } from "../helpers/broker.ts";
import { JAVA_PEER_NAME, javaClient, runJava, spawnJava, type JavaProcess } from "../helpers/java-peer.ts";
import { minio, MINIO_PEER_NAME, startMinio, type MinioServer } from "../helpers/minio.ts";
import { pair, primaryInSync, primaryOf, type Node } from "../helpers/pair.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { readTopic } from "../helpers/read-topic.ts";

const KILLS = Number(process.env.KLITE_FAILOVER_KILLS ?? 20);
const TOPIC = "failover";
const PARTITIONS = 3;

function ackedLines(file: string): string[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, "utf8");
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").filter((l) => l !== "");
}

/** Every acknowledged record ("key partition offset" lines) is in the log once, where it was acknowledged. */
async function verify(port: number, lines: string[]): Promise<{ total: number }> {
  const want = new Map<string, string>();
  for (const line of lines) {
    const [key, partition, offset] = line.split(" ");
    if (want.has(key!)) throw new Error(`${key} was acknowledged twice`);
    want.set(key!, `${partition} ${offset}`);
  }
  const topic = await readTopic(port, TOPIC);
  const found = new Map<string, string>();
  let total = 0;
  for (const [partition, recs] of topic) {
    recs.forEach((r, i) => {
      if (r.offset !== i) throw new Error(`partition ${partition}: record ${i} has offset ${r.offset}`);
      const key = new TextDecoder().decode(r.key ?? new Uint8Array());
      if (found.has(key)) throw new Error(`key ${key} appears twice: at ${found.get(key)} and ${partition} ${r.offset}`);
      found.set(key, `${partition} ${r.offset}`);
      total++;
    });
  }
  const problems: string[] = [];
  for (const [key, at] of want) {
    const got = found.get(key);
    if (got !== at && problems.length < 10) problems.push(`${key} acknowledged at ${at} is ${got === undefined ? "missing" : `at ${got}`}`);
  }
  if (problems.length) throw new Error(`acknowledged records lost or moved:\n${problems.join("\n")}`);
  return { total };
}

const java = await javaClient();
const minioPeer = await minio();

describeWithPeer(MINIO_PEER_NAME, minioPeer, () => {
  describeWithPeer(JAVA_PEER_NAME, java, () => {
    let server: MinioServer;
    let nodes: Node[] = [];
    beforeAll(async () => {
      await ensureBinary();
      server = await startMinio();
    });
    afterAll(async () => {
      for (const n of nodes) await n.kill();
      for (const n of nodes) n.cleanup();
      await server?.stop();
    });

    test(`kill -9 of the primary ×${KILLS} under an idempotent acks=all Java producer, then SIGTERM: every acknowledged record exactly once`, async () => {
      await server.createBucket("failover");
      nodes = pair(server, "failover");
      const [a, b] = nodes as [Node, Node];
      const work = tempDir("klite-failover-");
      const ackedFile = join(work, "acked.txt");
      const log: string[] = [];
      const note = (s: string) => log.push(`${new Date().toISOString()} ${s}`);
      let streamer: JavaProcess | null = null;
      try {
        await a.start();
        await primaryOf([a]);
        await b.start();
        await primaryInSync(nodes);
        const bootstrap = `${a.bootstrap},${b.bootstrap}`;
        await runJava(["create-topic", "--bootstrap", a.bootstrap, "--topic", TOPIC, "--partitions", String(PARTITIONS)]);
        streamer = spawnJava(["stream", "--bootstrap", bootstrap, "--topic", TOPIC, "--acked-file", ackedFile, "--interval-ms", "2"]);
        const s = streamer;
        const progress = async (n: number, what: string) => {
          const before = ackedLines(ackedFile).length;
          await waitFor(() => {
            if (s.proc.exitCode !== null) throw new Error(`the Java streamer exited (${s.proc.exitCode}):\n${s.output().slice(-3000)}`);
            return ackedLines(ackedFile).length >= before + n;
          }, `${n} more acknowledged records ${what}`, 90_000);
        };
        const primaries: string[] = [];
        for (let kill = 1; kill <= KILLS; kill++) {
          await progress(100, kill === 1 ? "after the start" : `after failover ${kill - 1}`);
          const primary = await primaryInSync(nodes);
          primaries.push(primary.name);
          await Bun.sleep(Math.floor(Math.random() * 1000));
          note(`kill ${kill}: SIGKILL ${primary.name} with ${ackedLines(ackedFile).length} acked`);
          const t0 = Date.now();
          await primary.kill("SIGKILL");
          await primaryOf(nodes.filter((n) => n !== primary));
          note(`kill ${kill}: the other node is primary after ${Date.now() - t0} ms`);
          await primary.start();
        }
        // Alternating: the killed node comes back as the standby, so the next kill hits the other one.
        for (let i = 1; i < primaries.length; i++) expect(primaries[i]).not.toBe(primaries[i - 1]);
        await progress(100, "after the last failover");
        // A graceful stop of the primary: the standby serves within a few seconds.
        const primary = await primaryInSync(nodes);
        const t0 = Date.now();
        await primary.kill("SIGTERM");
        await primaryOf(nodes.filter((n) => n !== primary), 10_000);
        note(`SIGTERM of ${primary.name}: the other node is primary after ${Date.now() - t0} ms`);
        await progress(100, "after the graceful stop");
        s.kill("SIGTERM");
        expect(await s.exited).toBe(0);
        const summary = /stream: done: sent (\d+) acked (\d+) failed (\d+)/.exec(s.output());
        const [sent, acked, failed] = summary!.slice(1).map(Number) as [number, number, number];
        note(`streamer: sent ${sent} acked ${acked} failed ${failed}`);
        const lines = ackedLines(ackedFile);
        expect(lines.length).toBe(acked);
        const live = await primaryOf(nodes);
        const { total } = await verify(live.kafkaPort, lines);
        note(`log: ${total} records, ${lines.length} acknowledged`);
        expect(failed).toBe(0);
        expect(total).toBe(lines.length);
        process.stdout.write(`\n[failover] ${log.join("\n[failover] ")}\n`);
      } catch (e) {
        process.stderr.write(`\n[failover] ${log.join("\n[failover] ")}\n[failover] node-a:\n${a.output().slice(-4000)}\n[failover] node-b:\n${b.output().slice(-4000)}\n[failover] streamer:\n${streamer?.output().slice(-3000)}\n`);
        throw e;
      } finally {
        if (streamer && streamer.proc.exitCode === null) streamer.proc.kill("SIGKILL");
        rmSync(work, { recursive: true, force: true });
      }
    }, 900_000);
  });
});
