// Producing before the standby is in sync, with compiled klite nodes and a real MinIO: producers (acks=all) start on
// a lone primary (or on two nodes started at once) before the standby has caught up, and then
//   - the primary is killed (kill -9) once the standby is in sync, and the new primary stopped gracefully (SIGTERM):
//     with nobody in sync it puts everything in S3 and the old primary, restarted, takes over from the bucket; or it
//     hands over to the old primary back in sync; or it stops while the old one is still catching up again;
//   - the primary is killed while the standby is still catching up: the standby must not take over (it does not hold
//     everything acknowledged); the restarted primary does, with everything.
// Every acknowledged record must be in the surviving primary's log, at its offset.
import { expect, test } from "bun:test";
import { minio, MINIO_PEER_NAME } from "../helpers/minio.ts";
import { createTopic, FAST, pair, primaryInSync, primaryOf, until, type Node, pairFixture } from "../helpers/pair.ts";
import { AckedProducer } from "../helpers/acked-producer.ts";
import { describeWithPeer } from "../helpers/peers.ts";

const minioPeer = await minio();

describeWithPeer(MINIO_PEER_NAME, minioPeer, () => {
  const fx = pairFixture();
  const all = fx.nodes;

  /** A pair on its own bucket and three producers on topic t (both nodes' ports); the scenario returns the node to verify on. */
  async function scenario(bucket: string, more: string[], run: (a: Node, b: Node, producers: AckedProducer[]) => Promise<Node>): Promise<void> {
    await fx.server.createBucket(bucket);
    const nodes = pair(fx.server, bucket, FAST, more);
    all.push(...nodes);
    const [a, b] = nodes;
    // Several producers, so writes are in flight at every moment of the standby's catch-up.
    const producers = [0, 1, 2].map((i) => new AckedProducer(() => [a.kafkaPort, b.kafkaPort], "t", { prefix: `p${i}`, timeoutMs: 5000, valueBytes: 512 }));
    try {
      const live = await run(a, b, producers);
      const n = producers.map((p) => p.acks.length);
      await until("acks at the end", () => producers.every((p, i) => p.acks.length > n[i]! + 10));
      for (const p of producers) await p.stop();
      for (const p of producers) await p.verify(live.kafkaPort);
    } catch (e) {
      process.stderr.write(nodes.map((n) => `--- ${n.name}:\n${n.output().slice(-5000)}`).join("\n"));
      throw e;
    } finally {
      for (const p of producers) await p.stop();
      for (const n of nodes) await n.kill();
    }
  }

  const moreAcks = async (producers: AckedProducer[], what: string) => {
    const n = producers.map((p) => p.acks.length);
    await until(what, () => producers.every((p, i) => p.acks.length > n[i]! + 10));
  };

  for (let round = 1; round <= 2; round++) {
    test(`round ${round}: produce before the standby is in sync, kill -9 of the primary, SIGTERM of the new one, the old one restores from S3: nothing acknowledged lost`, async () => {
      await scenario(`catchup-${round}`, [], async (a, b, producers) => {
        await a.start();
        await primaryOf([a]);
        await createTopic(a.kafkaPort, "t");
        for (const p of producers) p.start();
        await until("acks before the standby starts", () => producers.every((p) => p.acks.length > 2 * round));
        await b.start();
        await primaryInSync([a, b]);
        await Bun.sleep(100 * round);
        await a.kill("SIGKILL");
        await primaryOf([b], 30_000);
        await moreAcks(producers, "acks from the new primary");
        expect(await b.kill("SIGTERM")).toBe(0);
        await a.start();
        await primaryOf([a], 30_000);
        expect(a.output()).toMatch(/restored from S3 before taking over/);
        return a;
      });
    }, 120_000);

    test(`round ${round}: both nodes started at once, producing at once; kill -9 of the primary as soon as the standby is in sync, then SIGTERM of the new primary once the old one is back in sync: nothing acknowledged lost`, async () => {
      await scenario(`catchup-together-${round}`, ["--cluster-id", `together-${round}`], async (a, b, producers) => {
        await Promise.all([a.start(), b.start()]);
        await createTopic((await primaryOf([a, b])).kafkaPort, "t");
        for (const p of producers) p.start();
        const first = await primaryInSync([a, b]);
        await first.kill("SIGKILL");
        const second = await primaryOf([a, b].filter((n) => n !== first), 30_000);
        await first.start();
        await primaryInSync([a, b]);
        await moreAcks(producers, "acks from the new primary");
        expect(await second.kill("SIGTERM")).toBe(0);
        return primaryOf([first], 30_000);
      });
    }, 120_000);

    test(`round ${round}: kill -9 of the primary, then SIGTERM of the new one while the old one, back, is catching up: nothing acknowledged lost`, async () => {
      await scenario(`catchup-term-${round}`, [], async (a, b, producers) => {
        await a.start();
        await primaryOf([a]);
        await b.start();
        await primaryInSync([a, b]);
        await createTopic(a.kafkaPort, "t");
        for (const p of producers) p.start();
        await until("acks", () => producers.every((p) => p.acks.length > 200));
        await a.kill("SIGKILL");
        await primaryOf([b], 30_000);
        await moreAcks(producers, "acks from the new primary");
        await a.start();
        await Bun.sleep(50 * round);
        expect(await b.kill("SIGTERM")).toBe(0);
        return primaryOf([a], 30_000);
      });
    }, 120_000);
  }

  test("the primary killed while the standby catches up: the standby does not take over; the restarted primary does, with everything", async () => {
    await scenario("catchup-early", [], async (a, b, producers) => {
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
      const primary = await primaryOf([a, b], 30_000);
      if (!inSync) {
        expect(primary).toBe(a);
        expect(b.output()).toMatch(/does not hold everything it acknowledged/);
      }
      process.stdout.write(`[catch-up] the standby was ${inSync ? "already in sync" : "still catching up"} when the primary was killed\n`);
      return primary;
    });
  }, 120_000);
});
