#!/usr/bin/env bun
// Captures the fuzzing corpus (test/fuzz/corpus/<client>.frames): the request frames real clients send, recorded by a
// proxy between each client and a broker in-process while the client produces (every codec), consumes, joins groups
// and runs admin calls. Frames are kept as they went over the wire (u32 size + frame, back to back), at most
// PER_API of each client's API key and version, none above MAX_FRAME bytes. Run it again when a client or an API
// changes; the fuzz test and scripts/fuzz read what it wrote.
//
//   bun scripts/fuzz-capture.ts [kafkajs|kcat|python|java|go ...]     (default: every client that is installed)
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { Kafka, CompressionTypes, logLevel } from "kafkajs";
import { startBroker, ROOT } from "../test/helpers/broker.ts";
import { javaClient, runJava } from "../test/helpers/java-peer.ts";
import { goClient, goCommand } from "../test/helpers/go-peer.ts";
import { kcat, pythonConfluent, run } from "../test/helpers/peers.ts";

const PER_API = 12;
const MAX_FRAME = 256 * 1024;
const OUT = join(ROOT, "test", "fuzz", "corpus");

const frames = new Map<string, Uint8Array[]>(); // client -> frames
let current = "";

/** A TCP proxy that forwards both ways and keeps every whole request frame a client sends. */
async function proxy(target: () => number): Promise<number> {
  interface Pipe {
    up: Socket<undefined> | null;
    pending: Uint8Array[];
    buf: Uint8Array;
  }
  const server = Bun.listen<Pipe>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(client) {
        client.data = { up: null, pending: [], buf: new Uint8Array(0) };
        const up = await Bun.connect({
          hostname: "127.0.0.1",
          port: target(),
          socket: {
            data: (_s, chunk) => void client.write(chunk),
            close: () => void client.end(),
            error: () => void client.end(),
          },
        });
        client.data.up = up;
        for (const p of client.data.pending) up.write(p);
      },
      data(client, chunk) {
        const d = client.data;
        if (d.up) d.up.write(chunk);
        else d.pending.push(chunk.slice());
        const b = new Uint8Array(d.buf.length + chunk.length);
        b.set(d.buf);
        b.set(chunk, d.buf.length);
        let pos = 0;
        while (pos + 4 <= b.length) {
          const size = new DataView(b.buffer, b.byteOffset + pos).getInt32(0);
          if (size < 0 || pos + 4 + size > b.length) break;
          keep(b.slice(pos, pos + 4 + size));
          pos += 4 + size;
        }
        d.buf = b.slice(pos);
      },
      close: (client) => void client.data.up?.end(),
      error: (client) => void client.data.up?.end(),
    },
  });
  return server.port;
}

function keep(frame: Uint8Array): void {
  if (!current || frame.length > MAX_FRAME) return;
  const dv = new DataView(frame.buffer, frame.byteOffset);
  const kind = `${dv.getInt16(4)}/${dv.getInt16(6)}`;
  const list = frames.get(current) ?? [];
  frames.set(current, list);
  if (list.filter((f) => `${new DataView(f.buffer, f.byteOffset).getInt16(4)}/${new DataView(f.buffer, f.byteOffset).getInt16(6)}` === kind).length >= PER_API) return;
  list.push(frame);
}

const quiet = <T>(p: Promise<T>) => p.then(() => undefined, (e: Error) => console.error(`  (${current}: ${e.message.split("\n")[0]})`));

async function spawnFor(cmd: string[], ms: number): Promise<void> {
  const proc = Bun.spawn(cmd, { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  await Promise.race([proc.exited, Bun.sleep(ms)]);
  proc.kill("SIGTERM");
  await Promise.race([proc.exited, Bun.sleep(10_000)]);
  proc.kill("SIGKILL");
}

const clients: Record<string, (bootstrap: string) => Promise<void>> = {
  async kafkajs(bootstrap) {
    const kafka = new Kafka({ brokers: [bootstrap], clientId: "fuzz-kafkajs", logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await quiet(admin.createTopics({ topics: [{ topic: "kjs", numPartitions: 3, configEntries: [{ name: "retention.ms", value: "3600000" }] }, { topic: "kjs-compact", numPartitions: 1, configEntries: [{ name: "cleanup.policy", value: "compact" }] }] }));
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
      await quiet(producer.send({ topic: "kjs", compression, acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `value-${i}`, headers: { h: "x" } })) }));
    }
    await quiet(producer.send({ topic: "kjs-compact", messages: [{ key: "a", value: "1" }, { key: "a", value: null }] }));
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: "fuzz-kjs", sessionTimeout: 6000 });
    await consumer.connect();
    await consumer.subscribe({ topic: "kjs", fromBeginning: true });
    let n = 0;
    await consumer.run({ eachMessage: async () => void n++ });
    for (let i = 0; i < 100 && n < 100; i++) await Bun.sleep(100);
    await consumer.disconnect();
    await quiet(admin.fetchTopicMetadata({ topics: ["kjs"] }));
    await quiet(admin.fetchOffsets({ groupId: "fuzz-kjs", topics: ["kjs"] }));
    await quiet(admin.fetchTopicOffsetsByTimestamp("kjs", Date.now() - 60_000));
    await quiet(admin.describeGroups(["fuzz-kjs"]));
    await quiet(admin.listGroups());
    await quiet(admin.describeConfigs({ resources: [{ type: 2, name: "kjs" }], includeSynonyms: false }));
    await quiet(admin.createPartitions({ topicPartitions: [{ topic: "kjs", count: 4 }] }));
    await quiet(admin.deleteGroups(["fuzz-kjs"]));
    await quiet(admin.deleteTopics({ topics: ["kjs-compact"] }));
    await admin.disconnect();
  },
  async kcat(bootstrap) {
    const k = await kcat();
    if (!k.ok) throw new Error(k.reason);
    const lines = Array.from({ length: 200 }, (_, i) => `key-${i}\tvalue-${i}`).join("\n");
    await quiet(run([k.path, "-b", bootstrap, "-L"]));
    for (const z of ["none", "gzip", "snappy", "lz4", "zstd"]) {
      const proc = Bun.spawn([k.path, "-b", bootstrap, "-P", "-t", "kcat", "-K", "\t", "-z", z, "-H", "src=kcat"], { stdin: new TextEncoder().encode(lines), stdout: "ignore", stderr: "ignore" });
      await proc.exited;
    }
    await quiet(run([k.path, "-b", bootstrap, "-C", "-t", "kcat", "-o", "beginning", "-e", "-q"], { timeoutMs: 30_000 }));
    await quiet(run([k.path, "-b", bootstrap, "-Q", "-t", `kcat:0:${Date.now() - 60_000}`], { timeoutMs: 30_000 }));
    await spawnFor([k.path, "-b", bootstrap, "-G", "fuzz-kcat", "kcat", "-q", "-e"], 15_000);
  },
  async python(bootstrap) {
    const py = await pythonConfluent();
    if (!py.ok) throw new Error(py.reason);
    const client = join(ROOT, "test", "peers", "python", "client.py");
    for (const z of ["none", "gzip", "snappy", "lz4", "zstd"]) {
      await quiet(run([py.path, client, "produce", "--bootstrap", bootstrap, "--topic", "py", "--count", "100", "--partitions", "2", "--compression", z, "--timeout", "60"], { timeoutMs: 90_000 }));
    }
    await quiet(run([py.path, client, "consume", "--bootstrap", bootstrap, "--topic", "py", "--count", "500", "--partitions", "2", "--timeout", "60"], { timeoutMs: 90_000 }));
    await spawnFor([py.path, client, "group", "--bootstrap", bootstrap, "--topic", "py", "--group", "fuzz-py"], 15_000);
    for (const action of ["list-groups", "describe-configs"]) await quiet(run([py.path, client, "admin", "--bootstrap", bootstrap, "--action", action, "--name", "py"], { timeoutMs: 60_000 }));
  },
  async java(bootstrap) {
    const j = await javaClient();
    if (!j.ok) throw new Error(j.reason);
    await quiet(runJava(["create-topic", "--bootstrap", bootstrap, "--topic", "java", "--partitions", "3"]));
    for (const z of ["none", "gzip", "snappy", "lz4", "zstd"]) await quiet(runJava(["produce", "--bootstrap", bootstrap, "--topic", "java", "--count", "300", "--partitions", "3", "--compression", z]));
    await quiet(runJava(["consume", "--bootstrap", bootstrap, "--topic", "java", "--count", "1500", "--partitions", "3"]));
    const { javaCommand } = await import("../test/helpers/java-peer.ts");
    await spawnFor(javaCommand(["group", "--bootstrap", bootstrap, "--topic", "java", "--group", "fuzz-java", "--assignor", "cooperative-sticky"]), 20_000);
    for (const args of [["--action", "list"], ["--action", "describe", "--group", "fuzz-java"], ["--action", "offsets", "--group", "fuzz-java"], ["--action", "describe-configs", "--type", "topic", "--name", "java", "--keys", "retention.ms"], ["--action", "list-offsets", "--topic", "java", "--partition", "0", "--spec", "latest"], ["--action", "describe-producers", "--topic", "java", "--partition", "0"], ["--action", "log-dirs"], ["--action", "delete-records", "--topic", "java", "--partition", "0", "--offset", "10"]]) {
      await quiet(runJava(["admin", "--bootstrap", bootstrap, ...args]));
    }
  },
  async go(bootstrap) {
    const g = await goClient();
    if (!g.ok) throw new Error(g.reason);
    for (const z of ["none", "gzip", "snappy", "lz4", "zstd"]) await quiet(run(goCommand(["produce", "--bootstrap", bootstrap, "--topic", "go", "--count", "200", "--compression", z]), { timeoutMs: 90_000 }));
    await spawnFor(goCommand(["group", "--bootstrap", bootstrap, "--topic", "go", "--group", "fuzz-go"]), 15_000);
  },
};

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(clients);
let brokerPort = 0;
const proxyPort = await proxy(() => brokerPort);
const b = await startBroker({ advertisedAddr: { host: "127.0.0.1", port: proxyPort }, groupInitialRebalanceDelayMs: 0, groupMinSessionTimeoutMs: 1000 });
brokerPort = b.port;
mkdirSync(OUT, { recursive: true });
try {
  for (const name of wanted) {
    current = name;
    const t0 = Date.now();
    try {
      await clients[name]!(`127.0.0.1:${proxyPort}`);
    } catch (e) {
      console.error(`${name}: not captured (${(e as Error).message})`);
      continue;
    }
    await Bun.sleep(500);
    current = "";
    const list = frames.get(name) ?? [];
    writeFileSync(join(OUT, `${name}.frames`), Buffer.concat(list));
    const apis = new Set(list.map((f) => new DataView(f.buffer, f.byteOffset).getInt16(4)));
    console.log(`${name}: ${list.length} frames of ${apis.size} APIs (${[...apis].sort((a, c) => a - c).join(" ")}), ${list.reduce((n, f) => n + f.length, 0)} bytes, in ${Date.now() - t0} ms`);
  }
} finally {
  await b.stop();
  b.cleanup();
  process.exit(0);
}
