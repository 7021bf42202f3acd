// The standby's disk fills up (its data dir on a small tmpfs, then a filler file): the primary detaches it and goes
// on alone after at most the ack timeout; the standby stays up, retrying; when space returns it resyncs and is in
// sync again; then the primary is killed and the standby takes over with every acknowledged record.
// Needs root to mount the tmpfs; without it the test is reported and skipped (a failure under CI=true).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../helpers/binary.ts";
import { minio, MINIO_PEER_NAME, startMinio, type MinioServer } from "../helpers/minio.ts";
import { FAST, Node, primaryInSync, primaryOf, until } from "../helpers/pair.ts";
import { AckedProducer } from "../helpers/acked-producer.ts";
import { describeWithPeer, run, type PeerResult } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";

const mountPoint = mkdtempSync(join(tmpdir(), "klite-standby-tmpfs-"));
const tmpfs: PeerResult = await run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mountPoint], { timeoutMs: 10_000 }).then(
  (): PeerResult => ({ ok: true, path: mountPoint }),
  (e: Error): PeerResult => ({ ok: false, reason: `cannot mount a tmpfs (root needed): ${e.message}` }),
);
const minioPeer = await minio();

/** Writes zeros into `file` until the file system is full. */
function fill(file: string): void {
  const mib = new Uint8Array(1024 * 1024);
  try {
    for (;;) appendFileSync(file, mib);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  }
  try {
    for (;;) appendFileSync(file, mib.subarray(0, 4096));
  } catch {
    // full to the last page
  }
}

afterAll(async () => {
  if (tmpfs.ok) await run(["umount", "-l", mountPoint]).catch(() => {});
  rmSync(mountPoint, { recursive: true, force: true });
});

describeWithPeer(MINIO_PEER_NAME, minioPeer, () => {
  describeWithPeer("a full disk for the standby (48 MiB tmpfs)", tmpfs, () => {
    let server: MinioServer;
    const nodes: Node[] = [];
    beforeAll(async () => {
      await ensureBinary();
      server = await startMinio();
    });
    afterAll(async () => {
      for (const n of nodes) await n.kill();
      nodes[0]?.cleanup();
      await server?.stop();
    });

    test("the standby's disk fills up and frees again: produce goes on, the standby catches up, nothing is lost", async () => {
      await server.createBucket("disk");
      const args = () => [
        "--s3-bucket", "disk", "--s3-endpoint", server.endpoint, "--s3-region", "us-east-1",
        "--lease-duration", `${FAST.leaseMs}ms`, "--lease-renew-interval", `${FAST.renewMs}ms`, "--lease-retry-interval", `${FAST.retryMs}ms`,
        "--replication-ack-timeout", `${FAST.ackTimeoutMs}ms`, "--wal-segment-max-bytes", "1MiB", "--chunk-pool-memory", "16MiB",
      ];
      const a = new Node("node-a", 1, args, server.env);
      const b = new Node("node-b", 2, args, server.env, join(mountPoint, "data"));
      nodes.push(a, b);
      const filler = join(mountPoint, "filler");
      const producer = new AckedProducer(() => [a.kafkaPort, b.kafkaPort], "t", { timeoutMs: 10_000, valueBytes: 16 * 1024 });
      try {
        await a.start();
        await primaryOf([a]);
        await b.start();
        await primaryInSync(nodes);
        const c = await RawClient.connect(a.kafkaPort);
        await c.request(19, 5, { topics: [{ name: "t", numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
        c.close();
        producer.start();
        await until("acks", () => producer.acks.length > 100);
        // Fill the standby's disk: its writes fail, the primary detaches it and goes on alone.
        fill(filler);
        const fullAt = performance.now();
        await until("the primary going on alone", async () => (await a.replication())?.standby?.inSync === false || (await a.replication())?.standby === null, 30_000);
        const n = producer.acks.length;
        await until("produce going on without the standby", () => producer.acks.length > n + 200, 30_000);
        const stalled = producer.acks.filter((x) => x.at > fullAt);
        expect(stalled[0]!.at - fullAt).toBeLessThan(FAST.ackTimeoutMs + 5000);
        expect(b.alive).toBe(true); // the standby stays up
        expect(await b.role()).toBe("standby");
        // Space returns: the standby resyncs and is in sync again.
        rmSync(filler);
        await primaryInSync(nodes, 60_000);
        const m = producer.acks.length;
        await until("more acks, replicated", () => producer.acks.length > m + 50);
        await a.kill("SIGKILL");
        await primaryOf([b], 30_000);
        const k = producer.acks.length;
        await until("produce on the new primary", () => producer.acks.length > k + 50, 30_000);
        await producer.stop();
        await producer.verify(b.kafkaPort);
      } catch (e) {
        process.stderr.write(nodes.map((x) => `--- ${x.name}:\n${x.output().slice(-4000)}`).join("\n"));
        throw e;
      } finally {
        await producer.stop();
        rmSync(filler, { force: true });
      }
    }, 240_000);
  });
});
