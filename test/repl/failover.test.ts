// Failover with real peers: two compiled klite processes on one MinIO bucket; idempotent acks=all producers of the
// Java client and of librdkafka (confluent-kafka-python), each on its own topic, and a Java consumer in a group that
// commits as it goes, all given both bootstrap addresses. The primary is killed with SIGKILL over and over (each time
// the other node, since the killed one comes back as the standby), and once stopped with SIGTERM: every acknowledged
// record must be in the log exactly once, at the partition and offset it was acknowledged at, and the consumer must
// carry on from its committed offsets (processing every offset below its last commit, and still committing after the
// last failover).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { tempDir, waitFor } from "../helpers/broker.ts";
import { JAVA_PEER_NAME, javaClient, runJava, spawnJava, type JavaProcess } from "../helpers/java-peer.ts";
import { minio, MINIO_PEER_NAME, startMinio, type MinioServer } from "../helpers/minio.ts";
import { pair, primaryInSync, primaryOf, type Node } from "../helpers/pair.ts";
import { describeWithPeer, pythonConfluent } from "../helpers/peers.ts";
import { spawnMember, type Member } from "../helpers/group-members.ts";
import { javaCommand } from "../helpers/java-peer.ts";
import { ROOT } from "../helpers/broker.ts";
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
async function verify(port: number, lines: string[], TOPIC: string): Promise<{ total: number }> {
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
const python = await pythonConfluent();
const RDKAFKA_TOPIC = "failover-rdkafka";

/** A producer process writing "key partition offset" lines for what it saw acknowledged. */
interface Streamer {
  name: string;
  file: string;
  topic: string;
  proc: { exitCode: number | null };
  kill(sig: "SIGTERM" | "SIGKILL"): void;
  exited: Promise<number>;
  output(): string;
}

function pythonStreamer(py: string, bootstrap: string, topic: string, file: string): Streamer {
  const proc = Bun.spawn([py, `${ROOT}/test/peers/python/client.py`, "stream", "--bootstrap", bootstrap, "--topic", topic, "--acked-file", file, "--interval-ms", "2"], { stdout: "pipe", stderr: "pipe" });
  let out = "";
  const pump = async (st: ReadableStream<Uint8Array>) => {
    const dec = new TextDecoder();
    for await (const c of st) out = (out + dec.decode(c, { stream: true })).slice(-20_000);
  };
  void pump(proc.stdout);
  void pump(proc.stderr);
  return { name: "librdkafka", file, topic, proc, kill: (sig) => proc.kill(sig), exited: proc.exited, output: () => out };
}

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

    test(`kill -9 of the primary ×${KILLS} under idempotent acks=all producers (Java, librdkafka) and a consumer group, then SIGTERM: every acknowledged record exactly once`, async () => {
      await server.createBucket("failover");
      nodes = pair(server, "failover");
      const [a, b] = nodes as [Node, Node];
      const work = tempDir("klite-failover-");
      const ackedFile = join(work, "acked.txt");
      const log: string[] = [];
      const note = (s: string) => log.push(`${new Date().toISOString()} ${s}`);
      let streamer: JavaProcess | null = null;
      let member: Member | null = null;
      let streamers: Streamer[] = [];
      try {
        await a.start();
        await primaryOf([a]);
        await b.start();
        await primaryInSync(nodes);
        const bootstrap = `${a.bootstrap},${b.bootstrap}`;
        await runJava(["create-topic", "--bootstrap", a.bootstrap, "--topic", TOPIC, "--partitions", String(PARTITIONS)]);
        await runJava(["create-topic", "--bootstrap", a.bootstrap, "--topic", RDKAFKA_TOPIC, "--partitions", String(PARTITIONS)]);
        streamer = spawnJava(["stream", "--bootstrap", bootstrap, "--topic", TOPIC, "--acked-file", ackedFile, "--interval-ms", "2"]);
        const s = streamer;
        streamers = [{ name: "java", file: ackedFile, topic: TOPIC, proc: s.proc, kill: (sig) => s.kill(sig), exited: s.exited, output: () => s.output() }];
        if (python.ok) streamers.push(pythonStreamer(python.path, bootstrap, RDKAFKA_TOPIC, join(work, "acked-rdkafka.txt")));
        member = spawnMember("java-member", javaCommand(["group", "--bootstrap", bootstrap, "--topic", TOPIC, "--group", "failover-group"]));
        const progress = async (n: number, what: string) => {
          const before = streamers.map((x) => ackedLines(x.file).length);
          await waitFor(() => {
            for (const x of streamers) if (x.proc.exitCode !== null) throw new Error(`the ${x.name} streamer exited (${x.proc.exitCode}):\n${x.output().slice(-3000)}`);
            return streamers.every((x, i) => ackedLines(x.file).length >= before[i]! + n);
          }, `${n} more acknowledged records from every producer ${what}`, 90_000).catch(async (e: Error) => {
            // Say which producer stalled, since when, and what the nodes were doing.
            const state = streamers.map((x, i) => `${x.name}: ${ackedLines(x.file).length - before[i]!} more acks, the last ${existsSync(x.file) ? Math.round((Date.now() - statSync(x.file).mtimeMs) / 1000) : "?"} s ago`);
            const roles = await Promise.all(nodes.map(async (x) => `${x.name} ${JSON.stringify(await x.replication())}`));
            throw new Error(`${e.message} (${state.join("; ")}; ${roles.join("; ")})`);
          });
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
        const lastFailoverAt = performance.now(); // the clock the member's records are stamped with
        const m = member;
        await waitFor(() => m.records.some((r) => r.at > lastFailoverAt) && [...m.committed.values()].length > 0, "the group member consuming and committing after the last failover", 60_000);
        const committedBefore = new Map(m.committed);
        await waitFor(() => [...m.committed].some(([p, o]) => o > (committedBefore.get(p) ?? -1)), "a commit after the last failover", 60_000);
        await m.stop();
        const live = await primaryOf(nodes);
        for (const x of streamers) {
          x.kill("SIGTERM");
          expect(await x.exited).toBe(0);
          const summary = /stream: done: sent (\d+) acked (\d+) failed (\d+)/.exec(x.output());
          const [sent, acked, failed] = summary!.slice(1).map(Number) as [number, number, number];
          note(`${x.name} streamer: sent ${sent} acked ${acked} failed ${failed}`);
          const lines = ackedLines(x.file);
          expect(lines.length).toBe(acked);
          const { total } = await verify(live.kafkaPort, lines, x.topic);
          note(`${x.topic}: ${total} records in the log, ${lines.length} acknowledged`);
          expect(failed).toBe(0);
          expect(total).toBe(lines.length);
        }
        // The consumer carried on across failovers: below each partition's last committed offset it processed every
        // offset (at least once), and the group's offsets on the live primary are those commits.
        for (const [p, o] of m.committed) {
          const seen = new Set(m.records.filter((r) => r.p === p).map((r) => r.o));
          for (let off = 0; off < o; off++) if (!seen.has(off)) throw new Error(`the group member committed ${o} on partition ${p} but never processed offset ${off}`);
        }
        note(`group member: ${m.records.length} records processed, committed ${JSON.stringify([...m.committed])}`);
        process.stdout.write(`\n[failover] ${log.join("\n[failover] ")}\n`);
        if (process.env.KLITE_FAILOVER_LOG) process.stdout.write(`${a.output()}\n${b.output()}\n`);
      } catch (e) {
        process.stderr.write(`\n[failover] ${log.join("\n[failover] ")}\n[failover] node-a:\n${a.output().slice(-4000)}\n[failover] node-b:\n${b.output().slice(-4000)}\n[failover] streamers:\n${streamers.map((x) => `--- ${x.name}:\n${x.output().slice(-3000)}`).join("\n")}\n[failover] group member:\n${member?.stdout().slice(-1500)}\n${member?.stderr().slice(-1500)}\n`);
        throw e;
      } finally {
        if (streamer && streamer.proc.exitCode === null) streamer.proc.kill("SIGKILL");
        for (const x of streamers) if (x.proc.exitCode === null) x.kill("SIGKILL");
        await member?.stop(1000);
        rmSync(work, { recursive: true, force: true });
      }
    }, 900_000);
  });
});
