// Replication under faults, with compiled klite nodes and a real MinIO (each test its own bucket):
//   - the standby killed under load: produce goes on within the ack timeout; it comes back, backfills and is in sync
//     again; the primary killed right after: nothing acknowledged is lost;
//   - both nodes killed together and restarted together: one becomes primary, nothing acknowledged is lost;
//   - two fresh nodes started at once without --cluster-id agree on one cluster id (through the bucket);
//   - a third node on the same bucket becomes a standby or is refused, never a second primary.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { minio, MINIO_PEER_NAME } from "../helpers/minio.ts";
import { createTopic, FAST, Node, pair, primaryInSync, primaryOf, until, pairFixture } from "../helpers/pair.ts";
import { AckedProducer } from "../helpers/acked-producer.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";

const minioPeer = await minio();

describeWithPeer(MINIO_PEER_NAME, minioPeer, () => {
  const fx = pairFixture();
  const all = fx.nodes;

  async function startPair(bucket: string): Promise<[Node, Node]> {
    await fx.server.createBucket(bucket);
    const nodes = pair(fx.server, bucket);
    all.push(...nodes);
    await nodes[0].start();
    await primaryOf([nodes[0]]);
    await nodes[1].start();
    await primaryInSync(nodes);
    await createTopic(nodes[0].kafkaPort, "t");
    return nodes;
  }

  const dump = (nodes: Node[]) => nodes.map((n) => `--- ${n.name}:\n${n.output().slice(-3000)}`).join("\n");

  test("the standby killed under load: produce goes on, it backfills and is in sync again; then the primary killed: nothing lost", async () => {
    const nodes = await startPair("standby-kill");
    const [a, b] = nodes;
    const producer = new AckedProducer(() => [a.kafkaPort, b.kafkaPort], "t").start();
    try {
      await until("acks", () => producer.acks.length > 200);
      await b.kill("SIGKILL");
      const killedAt = performance.now();
      const before = producer.acks.length;
      await until("produce going on without the standby", () => producer.acks.length > before + 200, 20_000);
      const resumed = producer.acks.find((x) => x.at > killedAt)!;
      expect(resumed.at - killedAt).toBeLessThan(FAST.ackTimeoutMs + 2000); // at most the ack timeout (+ slack)
      await Bun.sleep(1000); // the standby misses some more
      await b.start();
      await primaryInSync(nodes); // backfilled what it missed, in sync again
      expect(b.output()).toMatch(/incremental session/);
      const n = producer.acks.length;
      await until("a few more acks, now replicated", () => producer.acks.length > n + 20);
      // Right after the reconnect: the primary dies; the standby must hold everything acknowledged.
      await a.kill("SIGKILL");
      await primaryOf([b]);
      const m = producer.acks.length;
      await until("produce going on on the new primary", () => producer.acks.length > m + 100, 30_000);
      await producer.stop();
      const total = await producer.verify(b.kafkaPort);
      expect(total).toBeGreaterThanOrEqual(producer.acks.length);
    } catch (e) {
      process.stderr.write(dump(nodes));
      throw e;
    } finally {
      await producer.stop();
    }
  }, 180_000);

  test("both nodes killed together and started together: one primary, nothing acknowledged lost", async () => {
    const nodes = await startPair("both-killed");
    const [a, b] = nodes;
    const producer = new AckedProducer(() => [a.kafkaPort, b.kafkaPort], "t").start();
    try {
      await until("acks", () => producer.acks.length > 300);
      await Promise.all([a.kill("SIGKILL"), b.kill("SIGKILL")]);
      await Bun.sleep(200);
      await Promise.all([a.start(), b.start()]);
      const primary = await primaryOf(nodes, 60_000);
      const n = producer.acks.length;
      await until("produce going on", () => producer.acks.length > n + 100, 60_000);
      await producer.stop();
      await producer.verify(primary.kafkaPort);
      // Exactly one primary, and the other follows it again.
      await primaryInSync(nodes);
      expect((await Promise.all(nodes.map((x) => x.role()))).filter((r) => r === "primary").length).toBe(1);
    } catch (e) {
      process.stderr.write(dump(nodes));
      throw e;
    } finally {
      await producer.stop();
    }
  }, 180_000);

  test("two fresh nodes started at once without --cluster-id agree on one cluster id through the bucket, and start again after a restart", async () => {
    // Three pairs, each started at the same moment: without agreement each node made up its own id, and the one that
    // lost the lease stayed out for good ("not taking part") and refused to start again.
    for (let round = 1; round <= 3; round++) {
      const bucket = `fresh-${round}`;
      await fx.server.createBucket(bucket);
      const nodes = pair(fx.server, bucket);
      all.push(...nodes);
      try {
        await Promise.all(nodes.map((n) => n.start()));
        await primaryInSync(nodes);
        const ids = nodes.map((n) => /cluster\.id=(\S+)/.exec(readFileSync(join(n.dataDir, "meta.properties"), "utf8"))?.[1]);
        expect(ids[0]).toBeTruthy();
        expect(ids[1]).toBe(ids[0]!);
        for (const n of nodes) expect(n.output()).not.toMatch(/not taking part/);
        for (const n of nodes) expect(await n.kill("SIGTERM")).toBe(0);
        await Promise.all(nodes.map((n) => n.start()));
        await primaryInSync(nodes);
      } catch (e) {
        process.stderr.write(dump(nodes));
        throw e;
      } finally {
        for (const n of nodes) await n.kill();
      }
    }
  }, 180_000);

  test("a third node on the same bucket is a standby or refused, never a second primary", async () => {
    const nodes = await startPair("third-node");
    const [a, b] = nodes;
    const c = new Node("node-c", 3, () => ["--s3-bucket", "third-node", "--s3-endpoint", fx.server.endpoint, "--s3-region", "us-east-1", "--lease-duration", "3s", "--lease-renew-interval", "1s", "--lease-retry-interval", "500ms"], fx.server.env);
    all.push(c);
    await c.start();
    try {
      for (let i = 0; i < 20; i++) {
        const roles = await Promise.all([a, b, c].map((n) => n.role()));
        expect(roles.filter((r) => r === "primary").length).toBe(1);
        expect(roles[2]).toBe("standby");
        await Bun.sleep(200);
      }
      await until("the third node refused by the primary", () => /refused this standby/.test(c.output()), 10_000);
      // A client reaching the third node is told to look elsewhere.
      const cl = await RawClient.connect(c.kafkaPort);
      const r = await cl.request(0, 9, { transactionalId: null, acks: -1, timeoutMs: 1000, topicData: [{ name: "t", partitionData: [{ index: 0, records: null }] }] });
      cl.close();
      expect(r.responses[0].partitionResponses[0].errorCode).toBe(6); // NOT_LEADER_OR_FOLLOWER
      // The primary goes: its in-sync standby takes over, not the third node.
      const primary = await primaryInSync([a, b]);
      const standby = primary === a ? b : a;
      await primary.kill("SIGKILL");
      await primaryOf([standby], 20_000);
      expect(await c.role()).toBe("standby");
    } catch (e) {
      process.stderr.write(dump([a, b, c]));
      throw e;
    }
  }, 180_000);
});
