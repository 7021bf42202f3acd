// Fencing and clocks, with compiled klite nodes and a real MinIO:
//   - split brain: the primary's way to S3 goes through a TCP proxy the test breaks, the standby's does not. The old
//     primary must stop acknowledging before the standby can have taken the lease: no acknowledgement of the old
//     primary comes after the first one of the new, and every acknowledged record is in the new primary's log;
//   - the same with the standby frozen while the primary loses S3 (its writes wait for an ACK until the lease runs
//     out): what was queued behind them is not acknowledged on the local fsync alone when the primary steps down;
//   - clocks are not trusted: the primary's wall clock jumps an hour ahead and the standby's an hour back (libfaketime,
//     monotonic clock left alone, as a bad NTP step would do): no failover, no refused produce.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../helpers/broker.ts";
import { minio, MINIO_PEER_NAME } from "../helpers/minio.ts";
import { createTopic, FAST, pair, primaryInSync, primaryOf, until, type Node, pairFixture } from "../helpers/pair.ts";
import { AckedProducer } from "../helpers/acked-producer.ts";
import { aptInstall, describeWithPeer, peer, which } from "../helpers/peers.ts";
import { TcpProxy } from "../helpers/tcp-proxy.ts";
import { LeaseObject, leaseKey } from "../../src/lease/lease.ts";

const minioPeer = await minio();
const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const faketime = await peer("libfaketime (Debian faketime)", async () => {
  if (!(await Bun.file(LIBFAKETIME).exists())) await aptInstall(["faketime"]);
  if (!(await Bun.file(LIBFAKETIME).exists()) && !which("faketime")) throw new Error(`${LIBFAKETIME} is missing after apt-get install faketime`);
  return LIBFAKETIME;
});

describeWithPeer(MINIO_PEER_NAME, minioPeer, () => {
  const fx = pairFixture();
  const all = fx.nodes;
  const dump = (nodes: Node[]) => nodes.map((n) => `--- ${n.name}:\n${n.output().slice(-4000)}`).join("\n");

  test("split brain: the primary cut off from S3 stops acknowledging before the standby takes over", async () => {
    await fx.server.createBucket("split");
    const proxy = new TcpProxy("127.0.0.1", fx.server.port).start();
    const nodes = pair(fx.server, "split", FAST, [], [`http://127.0.0.1:${proxy.port}`, fx.server.endpoint]);
    all.push(...nodes);
    const [a, b] = nodes;
    const toA = new AckedProducer(() => [a.kafkaPort], "t", { prefix: "a", pin: true, timeoutMs: 5000 });
    const toB = new AckedProducer(() => [b.kafkaPort], "t", { prefix: "b", pin: true, timeoutMs: 5000 });
    try {
      await a.start();
      await primaryOf([a]);
      await b.start();
      await primaryInSync(nodes);
      await createTopic(a.kafkaPort, "t");
      toA.start();
      toB.start();
      await until("acks on the primary", () => toA.acks.length > 200);
      expect(toB.acks.length).toBe(0); // the standby acknowledges nothing
      const cutAt = performance.now();
      proxy.break();
      await primaryOf([b], 30_000);
      const n = toB.acks.length;
      await until("the new primary acknowledging", () => toB.acks.length > n + 100, 30_000);
      await toA.stop();
      await toB.stop();
      const lastOld = Math.max(...toA.acks.map((x) => x.at));
      const firstNew = Math.min(...toB.acks.map((x) => x.at));
      process.stdout.write(`[split brain] cut at 0 ms; old primary's last ack at ${Math.round(lastOld - cutAt)} ms, new primary's first at ${Math.round(firstNew - cutAt)} ms\n`);
      expect(lastOld).toBeLessThan(firstNew);
      expect(a.output()).toMatch(/lost the lease/);
      // Every record either node acknowledged is in the new primary's log.
      await toA.verify(b.kafkaPort).catch((e) => { throw new Error(`old primary's acks: ${(e as Error).message}`); });
      await toB.verify(b.kafkaPort);
      // Healed, the old primary follows the new one.
      proxy.heal();
      await primaryInSync(nodes, 60_000);
      expect(await a.role()).toBe("standby");
    } catch (e) {
      process.stderr.write(dump(nodes));
      throw e;
    } finally {
      await toA.stop();
      await toB.stop();
      proxy.stop();
    }
  }, 180_000);

  test("split brain with a standby that stops acknowledging: nothing the old primary acknowledged is missing on the new one", async () => {
    // The standby is frozen (SIGSTOP) right when the primary loses S3, with an ack timeout longer than the lease: the
    // primary's writes wait for an ACK that does not come until its lease runs out and it steps down, with more writes
    // queued behind them (producers whose requests time out send the next record meanwhile, each after its own
    // timeout, so some are always queued when the lease runs out). None of those may be acknowledged on the local
    // fsync alone: the frozen standby, listed as in sync, takes over once it runs again.
    await fx.server.createBucket("split-frozen");
    const proxy = new TcpProxy("127.0.0.1", fx.server.port).start();
    const nodes = pair(fx.server, "split-frozen", { ...FAST, ackTimeoutMs: 20_000 }, [], [`http://127.0.0.1:${proxy.port}`, fx.server.endpoint]);
    all.push(...nodes);
    const [a, b] = nodes;
    const toA = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => new AckedProducer(() => [a.kafkaPort], "t", { prefix: `a${i}`, pin: true, timeoutMs: 600 + 250 * i }));
    let frozen = false;
    try {
      await a.start();
      await primaryOf([a]);
      await b.start();
      await primaryInSync(nodes);
      await createTopic(a.kafkaPort, "t");
      for (const p of toA) p.start();
      await until("acks on the primary", () => toA.every((p) => p.acks.length > 10));
      process.kill(b.proc!.pid, "SIGSTOP");
      frozen = true;
      proxy.break();
      const cutAt = performance.now();
      await until("the old primary stepping down", () => /lost the lease/.test(a.output()), 30_000);
      await Bun.sleep(500); // whatever was queued behind the unanswered writes is written meanwhile
      process.kill(b.proc!.pid, "SIGCONT");
      frozen = false;
      await primaryOf([b], 30_000);
      for (const p of toA) await p.stop();
      const acked = toA.flatMap((p) => p.acks);
      const lastOld = Math.max(...acked.map((x) => x.at));
      process.stdout.write(`[split brain, frozen standby] ${acked.length} acks from the old primary, the last ${Math.round(lastOld - cutAt)} ms after the cut\n`);
      for (const p of toA) await p.verify(b.kafkaPort).catch((e) => { throw new Error(`old primary's acks: ${(e as Error).message}`); });
      expect(a.output()).not.toMatch(/nhandled|uncaught/i);
      expect(a.alive).toBe(true);
      proxy.heal();
      await primaryInSync(nodes, 60_000);
      expect(await a.role()).toBe("standby");
    } catch (e) {
      process.stderr.write(dump(nodes));
      throw e;
    } finally {
      if (frozen) process.kill(b.proc!.pid, "SIGCONT");
      for (const p of toA) await p.stop();
      proxy.stop();
    }
  }, 180_000);

  describeWithPeer("libfaketime (Debian faketime)", faketime, () => {
    test("a wall clock jumping an hour ahead (primary) or back (standby) changes nothing", async () => {
      await fx.server.createBucket("clocks");
      const nodes = pair(fx.server, "clocks");
      all.push(...nodes);
      const [a, b] = nodes;
      const dir = tempDir("klite-clock-");
      const clockOf = (n: Node) => join(dir, `${n.name}.faketime`);
      const env = (n: Node) => ({ LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clockOf(n), FAKETIME_NO_CACHE: "1", FAKETIME_DONT_FAKE_MONOTONIC: "1" });
      writeFileSync(clockOf(a), "+0\n");
      writeFileSync(clockOf(b), "+0\n");
      const producer = new AckedProducer(() => [a.kafkaPort, b.kafkaPort], "t", { timeoutMs: 5000 });
      try {
        await a.start(env(a));
        await primaryOf([a]);
        await b.start(env(b));
        await primaryInSync(nodes);
        await createTopic(a.kafkaPort, "t");
        producer.start();
        await until("acks", () => producer.acks.length > 100);
        const lease = new LeaseObject(fx.server.store("clocks"), leaseKey(""));
        const before = (await lease.read())!.body;
        writeFileSync(clockOf(a), "+1h\n");
        writeFileSync(clockOf(b), "-1h\n");
        await Bun.sleep(3 * FAST.leaseMs);
        const after = (await lease.read())!.body;
        // The primary's renewals carry its jumped clock (the jump really happened), and nothing else changed.
        expect(Date.parse(after.renewedAt) - Date.now()).toBeGreaterThan(50 * 60_000);
        expect(after.epoch).toBe(before.epoch);
        expect(after.holder).toBe("node-a");
        expect(await a.role()).toBe("primary");
        expect(await b.role()).toBe("standby");
        expect((await a.replication())?.standby?.inSync).toBe(true);
        const n = producer.acks.length;
        await until("produce going on", () => producer.acks.length > n + 100);
        await producer.stop();
        expect(producer.errors).toBe(0);
        await producer.verify(a.kafkaPort);
      } catch (e) {
        process.stderr.write(dump(nodes));
        throw e;
      } finally {
        await producer.stop();
      }
    }, 120_000);
  });
});
