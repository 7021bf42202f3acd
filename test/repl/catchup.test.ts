// Producing before the standby is in sync, with compiled klite nodes and a real MinIO: a producer (acks=all) starts on
// a lone primary, the standby joins and catches up under that load, and then
//   - the primary is killed (kill -9) once the standby is in sync, and the new primary stopped gracefully (SIGTERM)
//     with nobody to hand over to, so it puts everything in S3 and the old primary, restarted, takes over from the
//     bucket: every acknowledged record is there, at its offset;
//   - the primary is killed while the standby is still catching up: the standby must not take over (it does not hold
//     everything acknowledged); the restarted primary does, with everything.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ensureBinary } from "../helpers/binary.ts";
import { minio, MINIO_PEER_NAME, startMinio, type MinioServer } from "../helpers/minio.ts";
import { FAST, pair, primaryInSync, primaryOf, until, type Node } from "../helpers/pair.ts";
import { AckedProducer } from "../helpers/acked-producer.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";

const minioPeer = await minio();

async function createTopic(port: number, name: string): Promise<void> {
  const c = await RawClient.connect(port);
  await c.request(19, 5, { topics: [{ name, numPartitions: 1, replicationFactor: -1, assignments: [], configs: [] }], timeoutMs: 10_000, validateOnly: false });
  c.close();
}

describeWithPeer(MINIO_PEER_NAME, minioPeer, () => {
  let server: MinioServer;
  const all: Node[] = [];
  beforeAll(async () => {
    await ensureBinary();
    server = await startMinio();
  });
  afterAll(async () => {
    for (const n of all) await n.kill();
    for (const n of all) n.cleanup();
    await server?.stop();
  });
  const dump = (nodes: Node[]) => nodes.map((n) => `--- ${n.name}:\n${n.output().slice(-5000)}`).join("\n");

  for (let round = 1; round <= 2; round++) {
    test(`round ${round}: produce before the standby is in sync, kill -9 of the primary, SIGTERM of the new one, the old one restores from S3: nothing acknowledged lost`, async () => {
      const bucket = `catchup-${round}`;
      await server.createBucket(bucket);
      const nodes = pair(server, bucket);
      all.push(...nodes);
      const [a, b] = nodes;
      // Several producers, so writes are in flight at every moment of the standby's catch-up.
      const producers = [0, 1, 2].map((i) => new AckedProducer(() => [a.kafkaPort, b.kafkaPort], "t", { prefix: `p${i}`, timeoutMs: 5000, valueBytes: 512 }));
      try {
        await a.start();
        await primaryOf([a]);
        await createTopic(a.kafkaPort, "t");
        for (const p of producers) p.start();
        await until("acks before the standby starts", () => producers.every((p) => p.acks.length > 2 * round));
        await b.start();
        await primaryInSync(nodes);
        await Bun.sleep(100 * round);
        await a.kill("SIGKILL");
        await primaryOf([b], 30_000);
        const n = producers.map((p) => p.acks.length);
        await until("acks from the new primary", () => producers.every((p, i) => p.acks.length > n[i]! + 10));
        expect(await b.kill("SIGTERM")).toBe(0);
        await a.start();
        await primaryOf([a], 30_000);
        const m = producers.map((p) => p.acks.length);
        await until("acks from the restored primary", () => producers.every((p, i) => p.acks.length > m[i]! + 10));
        for (const p of producers) await p.stop();
        for (const p of producers) await p.verify(a.kafkaPort);
        expect(a.output()).toMatch(/restored from S3 before taking over/);
      } catch (e) {
        process.stderr.write(dump(nodes));
        throw e;
      } finally {
        for (const p of producers) await p.stop();
        for (const n of nodes) await n.kill();
      }
    }, 120_000);
  }

  for (let round = 1; round <= 2; round++) {
    test(`round ${round}: both nodes started at once, producing at once; kill -9 of the primary as soon as the standby is in sync, then SIGTERM of the new primary once the old one is back in sync: nothing acknowledged lost`, async () => {
      const bucket = `catchup-together-${round}`;
      await server.createBucket(bucket);
      const nodes = pair(server, bucket, FAST, ["--cluster-id", `together-${round}`]);
      all.push(...nodes);
      const producers = [0, 1, 2].map((i) => new AckedProducer(() => nodes.map((n) => n.kafkaPort), "t", { prefix: `p${i}`, timeoutMs: 5000, valueBytes: 512 }));
      try {
        await Promise.all(nodes.map((n) => n.start()));
        const first = await primaryOf(nodes);
        await createTopic(first.kafkaPort, "t");
        for (const p of producers) p.start();
        const p1 = await primaryInSync(nodes);
        await p1.kill("SIGKILL");
        const p2 = await primaryOf(nodes.filter((n) => n !== p1), 30_000);
        await p1.start();
        await primaryInSync(nodes);
        const n = producers.map((p) => p.acks.length);
        await until("acks from the new primary", () => producers.every((p, i) => p.acks.length > n[i]! + 10));
        expect(await p2.kill("SIGTERM")).toBe(0);
        const p3 = await primaryOf([p1], 30_000);
        const m = producers.map((p) => p.acks.length);
        await until("acks after the graceful stop", () => producers.every((p, i) => p.acks.length > m[i]! + 10));
        for (const p of producers) await p.stop();
        for (const p of producers) await p.verify(p3.kafkaPort);
      } catch (e) {
        process.stderr.write(dump(nodes));
        throw e;
      } finally {
        for (const p of producers) await p.stop();
        for (const n of nodes) await n.kill();
      }
    }, 120_000);
  }

  for (let round = 1; round <= 2; round++) {
    test(`round ${round}: kill -9 of the primary, then SIGTERM of the new one while the old one, back, is catching up: nothing acknowledged lost`, async () => {
      const bucket = `catchup-term-${round}`;
      await server.createBucket(bucket);
      const nodes = pair(server, bucket);
      all.push(...nodes);
      const [a, b] = nodes;
      const producers = [0, 1, 2].map((i) => new AckedProducer(() => [a.kafkaPort, b.kafkaPort], "t", { prefix: `p${i}`, timeoutMs: 5000, valueBytes: 512 }));
      try {
        await a.start();
        await primaryOf([a]);
        await b.start();
        await primaryInSync(nodes);
        await createTopic(a.kafkaPort, "t");
        for (const p of producers) p.start();
        await until("acks", () => producers.every((p) => p.acks.length > 200));
        await a.kill("SIGKILL");
        await primaryOf([b], 30_000);
        const n = producers.map((p) => p.acks.length);
        await until("acks from the new primary", () => producers.every((p, i) => p.acks.length > n[i]! + 10));
        await a.start();
        await Bun.sleep(50 * round);
        expect(await b.kill("SIGTERM")).toBe(0);
        const p3 = await primaryOf([a], 30_000);
        const m = producers.map((p) => p.acks.length);
        await until("acks after the graceful stop", () => producers.every((p, i) => p.acks.length > m[i]! + 10));
        for (const p of producers) await p.stop();
        for (const p of producers) await p.verify(p3.kafkaPort);
      } catch (e) {
        process.stderr.write(dump(nodes));
        throw e;
      } finally {
        for (const p of producers) await p.stop();
        for (const n of nodes) await n.kill();
      }
    }, 120_000);
  }

  test("the primary killed while the standby catches up: the standby does not take over; the restarted primary does, with everything", async () => {
    await server.createBucket("catchup-early");
    const nodes = pair(server, "catchup-early");
    all.push(...nodes);
    const [a, b] = nodes;
    const producers = [0, 1, 2].map((i) => new AckedProducer(() => [a.kafkaPort, b.kafkaPort], "t", { prefix: `p${i}`, timeoutMs: 5000, valueBytes: 512 }));
    try {
      await a.start();
      await primaryOf([a]);
      await createTopic(a.kafkaPort, "t");
      for (const p of producers) p.start();
      // Enough WAL that the standby is still catching up a moment after it connects.
      await until("a few MB acknowledged", () => producers.reduce((s, p) => s + p.acks.length, 0) > 3000, 60_000);
      await b.start();
      await until("the standby connected", async () => (await a.replication())?.standby?.standby === "node-b");
      const inSync = (await a.replication())?.standby?.inSync;
      await a.kill("SIGKILL");
      // Two lease durations: long enough for the lease to expire in the standby's eyes.
      await Bun.sleep(2 * FAST.leaseMs + FAST.retryMs);
      if (!inSync) expect(await b.role()).toBe("standby");
      await a.start();
      const primary = await primaryOf(nodes, 30_000);
      if (!inSync) expect(primary).toBe(a);
      const n = producers.map((p) => p.acks.length);
      await until("acks after the restart", () => producers.every((p, i) => p.acks.length > n[i]! + 10));
      for (const p of producers) await p.stop();
      for (const p of producers) await p.verify(primary.kafkaPort);
      if (!inSync) expect(b.output()).toMatch(/does not hold everything it acknowledged/);
      process.stdout.write(`[catch-up] the standby was ${inSync ? "already in sync" : "still catching up"} when the primary was killed\n`);
    } catch (e) {
      process.stderr.write(dump(nodes));
      throw e;
    } finally {
      for (const p of producers) await p.stop();
    }
  }, 120_000);
});
