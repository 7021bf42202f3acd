// The replication stream as a real standby (compiled klite) sees it, driven by a primary this test plays: the bucket
// holds the test's certificates and a lease naming it (epoch 5). The standby connects with mutual TLS, applies and
// acknowledges metadata and WAL frames; a frame with a bad CRC closes the stream, and the standby reconnects saying
// what it holds (its session token and last WAL sequence), so only the rest is streamed again; a frame from an epoch
// older than the lease's is refused the same way.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ensureBinary } from "../helpers/binary.ts";
import { minio, MINIO_PEER_NAME, startMinio, type MinioServer } from "../helpers/minio.ts";
import { freePort, Node, until } from "../helpers/pair.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { generatePki, pkiKey } from "../../src/repl/pki.ts";
import { listenLinks, type Link } from "../../src/repl/link.ts";
import { encodeFrame, FrameType, json, unjson, type Frame } from "../../src/repl/frames.ts";
import type { Hello } from "../../src/repl/sender.ts";
import { encodeMetaRecord, type MetaRecord } from "../../src/meta/metadata-log.ts";
import { writeEntry, ENTRY_HEADER } from "../../src/wal/entry.ts";
import { buildBatch, setBaseOffset } from "../../src/protocol/records.ts";
import { leaseKey } from "../../src/lease/lease.ts";
import { clusterRoot } from "../../src/s3/keys.ts";
import { silentLogger } from "../../src/logger.ts";

const CLUSTER = "fakeprimary";
const TOPIC_ID = "00112233445566778899aabbccddeeff";
const minioPeer = await minio();
const TOPIC: MetaRecord = { type: "topic", name: "t", id: TOPIC_ID, partitions: 1, configs: {} };

function walEntry(seq: number, offset: number): Uint8Array {
  const batch = buildBatch([{ key: new TextEncoder().encode(`k${offset}`), value: new TextEncoder().encode("v") }]);
  setBaseOffset(batch, offset);
  const out = new Uint8Array(ENTRY_HEADER + batch.length);
  writeEntry(out, new DataView(out.buffer), 0, seq, Buffer.from(TOPIC_ID, "hex"), 0, offset, batch, 0);
  return out;
}

describeWithPeer(MINIO_PEER_NAME, minioPeer, () => {
  let server: MinioServer;
  let standby: Node;
  beforeAll(async () => {
    await ensureBinary();
    server = await startMinio();
  });
  afterAll(async () => {
    await standby?.kill();
    standby?.cleanup();
    await server?.stop();
  });

  test("a corrupt frame or one from an older epoch closes the stream; the standby reconnects and resumes from what it holds", async () => {
    await server.createBucket("stream");
    const store = server.store("stream");
    const { pki } = generatePki(["127.0.0.1", "localhost"]);
    await store.put(pkiKey(clusterRoot("", CLUSTER)), Buffer.from(JSON.stringify(pki)));
    const port = freePort();
    await store.put(leaseKey(""), Buffer.from(JSON.stringify({ clusterId: CLUSTER, holder: "fake", epoch: 5, addr: `127.0.0.1:${port}`, kafka: { nodeId: 9, host: "127.0.0.1", port: 1 }, inSync: [], released: false, flushed: false, renewedAt: "" })));

    const hellos: Hello[] = [];
    const acks: number[] = [];
    const acksOn = new Map<Link, number[]>();
    const closes: string[] = [];
    let current: Link | null = null;
    const fake = listenLinks("127.0.0.1", port, pki, {
      opened: (l) => (current = l),
      frame: (l: Link, f: Frame) => {
        if (f.type === FrameType.HELLO) hellos.push(unjson<Hello>(f.payload));
        if (f.type === FrameType.ACK) {
          acks.push(f.seq);
          acksOn.set(l, [...(acksOn.get(l) ?? []), f.seq]);
        }
      },
      closed: (_l, why) => closes.push(why),
    }, silentLogger);

    standby = new Node("standby", 2, () => ["--s3-bucket", "stream", "--s3-endpoint", server.endpoint, "--s3-region", "us-east-1", "--lease-duration", "60s", "--lease-renew-interval", "10s", "--lease-retry-interval", "300ms", "--cluster-id", CLUSTER], server.env);
    try {
      await standby.start();
      await until("the standby's HELLO", () => hellos.length === 1);
      expect(hellos[0]!.token).toBeNull(); // a fresh node
      expect(hellos[0]!.lastSeq).toBe(-1);
      const l1 = current!;
      const welcome = (mode: string, fromSeq: number) => json({ mode, epoch: 5, stream: "s1", fromSeq, primary: { id: "fake", kafka: { nodeId: 9, host: "127.0.0.1", port: 1 } } });
      l1.send(FrameType.WELCOME, 5, 1, welcome("full", 0));
      l1.send(FrameType.SNAPSHOT, 5, 2, new Uint8Array(0));
      l1.send(FrameType.META, 5, 3, encodeMetaRecord(TOPIC));
      l1.send(FrameType.WAL, 5, 4, Buffer.concat([walEntry(0, 0), walEntry(1, 1)]));
      await until("ACK of the WAL frame", () => acks.includes(4));
      // A frame whose payload no longer matches its CRC: the standby drops the connection.
      const bad = encodeFrame(FrameType.WAL, 5, 5, walEntry(2, 2));
      bad[bad.length - 3] ^= 0xff;
      l1.sendEncoded(bad);
      await until("the stream closed", () => l1.closed);
      await until("a second HELLO", () => hellos.length === 2);
      // It says what it holds: the session token of the WELCOME and WAL sequences up to 1; not entry 2.
      expect(hellos[1]!.token).toEqual({ epoch: 5, stream: "s1" });
      expect(hellos[1]!.lastSeq).toBe(1);
      expect(acks).not.toContain(5);
      const l2 = current!;
      l2.send(FrameType.WELCOME, 5, 1, welcome("incremental", 2));
      l2.send(FrameType.SNAPSHOT, 5, 2, encodeMetaRecord(TOPIC));
      l2.send(FrameType.WAL, 5, 3, walEntry(2, 2));
      await until("ACK of the resent entry", () => acksOn.get(l2)?.includes(3));
      // A frame from epoch 4, older than the lease's 5: refused, the stream closes again.
      l2.send(FrameType.PING, 4, 4);
      await until("the stream closed again", () => l2.closed);
      await until("a third HELLO", () => hellos.length === 3);
      expect(hellos[2]!.lastSeq).toBe(2);
      expect(standby.output()).toMatch(/bad CRC/);
      expect(standby.output()).toMatch(/frame from epoch 4, older than the lease's 5/);
      expect(await standby.role()).toBe("standby"); // never took over a lease it may not
    } catch (e) {
      process.stderr.write(standby.output().slice(-4000));
      throw e;
    } finally {
      fake.stop(true);
    }
  }, 120_000);
});
