// Consumer groups with the real Apache Kafka Java client (kafka-clients 4.4.0, KliteJavaClient `group` and `admin`):
// members share work through a leave and a join with the range and cooperative-sticky assignors; a frozen member
// (SIGSTOP) is evicted and its partitions move; a restarted static member gets its partitions back without a
// rebalance; the AdminClient lists, describes and deletes groups and their offsets; acknowledged commits survive a
// graceful restart and kill -9 of the broker.
import { afterAll, expect, test } from "bun:test";
import { spawnBroker, waitFor, type SpawnedBroker } from "../helpers/broker.ts";
import { describeGroup, groupBroker, produceRange, shareWork, spawnMember, tail, watchGroup, type Member } from "../helpers/group-members.ts";
import { JAVA_PEER_NAME, javaClient, javaCommand, runJava } from "../helpers/java-peer.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { createTopic } from "../helpers/stored.ts";

const java = await javaClient();

function member(bootstrap: string, name: string, topic: string, group: string, extra: string[] = []): Member {
  return spawnMember(name, javaCommand(["group", "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--client-id", name, ...extra]));
}

describeWithPeer(JAVA_PEER_NAME, java, () => {
  const broker = groupBroker();

  for (const assignor of ["range", "cooperative-sticky"]) {
    test(`${assignor}: three members share 30,000 records over six partitions through a leave and a join`, async () => {
      const b = broker();
      const topic = `java-${assignor}`;
      const { members, protocols } = await shareWork({
        port: b.port,
        topic,
        group: `java-${assignor}`,
        label: `java ${assignor}`,
        start: (n) => member(b.bootstrap, `java-${n}`, topic, `java-${assignor}`, ["--assignor", assignor]),
      });
      expect(protocols).toEqual([assignor]);
      // Commits are synchronous after every poll and the leave is clean: the coordinator never refuses one
      // (CommitFailedException). The client itself refuses commits while it rejoins (RebalanceInProgressException),
      // which cooperative members, consuming through rebalances, meet; against Apache Kafka too.
      for (const m of members) expect(m.commitFailures.filter((f) => f !== "RebalanceInProgressException")).toEqual([]);
      if (assignor === "cooperative-sticky") {
        // Incremental: members that stay never give up every partition at once (an eager rebalance would).
        const stayer = members[0]!;
        const revokedAll = stayer.events.some((e) => e.kind === "revoked" && e.partitions.length > 0 && e.partitions.length === 6);
        expect(revokedAll).toBe(false);
      }
    }, 300_000);
  }

  test("a member frozen with SIGSTOP is evicted after its session timeout; its partitions move to the others", async () => {
    const b = broker();
    const topic = "java-frozen";
    await createTopic(b.port, topic, 6);
    const members = [0, 1, 2].map((n) => member(b.bootstrap, `frozen-${n}`, topic, topic, ["--session-timeout-ms", "3000"]));
    const [a, frozen, c] = members as [Member, Member, Member];
    try {
      await waitFor(async () => (await describeGroup(b.port, topic)).members.length === 3 && members.every((m) => m.owned.size === 2), "three members with two partitions each", 90_000);
      const moved = [...frozen.owned];
      process.kill(frozen.pid, "SIGSTOP");
      const t0 = performance.now();
      await waitFor(() => a.owned.size + c.owned.size === 6, "the frozen member's partitions to move to the others", 60_000).catch((e) => {
        throw new Error(`${(e as Error).message}\n${members.map((m) => tail(m)).join("\n")}`);
      });
      const evictedAfter = performance.now() - t0;
      process.stderr.write(`[groups] java SIGSTOP: partitions ${moved} moved ${Math.round(evictedAfter)} ms after the freeze (session timeout 3000 ms)\n`);
      expect(evictedAfter).toBeGreaterThan(2000); // not before its session timeout (less a heartbeat interval) ran out
      for (const p of moved) expect(a.owned.has(p) || c.owned.has(p)).toBe(true);
      const d = await describeGroup(b.port, topic);
      expect(d.state).toBe("Stable");
      expect(d.members.map((x) => x.clientId).sort()).toEqual(["frozen-0", "frozen-2"]);
      // The survivors consume what arrives on every partition, the moved ones included.
      const producer = await RawClient.connect(b.port);
      await produceRange(producer, topic, 6, 0, 600);
      producer.close();
      const done = () => new Set([...a.records, ...c.records].map((r) => `${r.p}@${r.o}`)).size;
      await waitFor(() => done() === 600, "the survivors to consume all 600 records", 60_000);
      // Thawed, the evicted member learns it lost its partitions (its heartbeat gets UNKNOWN_MEMBER_ID). It may
      // fetch and process records of its old partitions first (fetches are not fenced in the classic protocol, in
      // Kafka neither), but the coordinator refuses its commits: the survivors' offsets stand.
      process.kill(frozen.pid, "SIGCONT");
      await waitFor(() => frozen.events.some((e) => e.kind === "lost"), "the thawed member to report its partitions lost", 30_000).catch((e) => {
        throw new Error(`${(e as Error).message}\n${tail(frozen)}`);
      });
      expect(frozen.committed.size).toBe(0);
      expect(frozen.commitFailures.filter((f) => f !== "CommitFailedException" && f !== "RebalanceInProgressException")).toEqual([]);
      for (const p of moved) expect((a.committed.get(p) ?? 0) + (c.committed.get(p) ?? 0)).toBe(100);
    } finally {
      process.kill(frozen.pid, "SIGCONT");
      await Promise.all(members.map((m) => m.stop()));
    }
  }, 180_000);

  test("a restarted static member gets its partitions back without a rebalance of the others (KIP-345, the leader too)", async () => {
    const b = broker();
    const topic = "java-static";
    await createTopic(b.port, topic, 6);
    const start = (n: number) => member(b.bootstrap, `static-${n}`, topic, topic, ["--instance-id", `instance-${n}`, "--session-timeout-ms", "30000"]);
    const members = [start(0)];
    try {
      // instance-0 joins first, so it leads the group (a leader stays leader while it rejoins in time).
      await waitFor(() => members[0]!.owned.size === 6, "the first member to own all partitions", 90_000);
      members.push(start(1), start(2));
      await waitFor(async () => (await describeGroup(b.port, topic)).state === "Stable" && members.every((m) => m.owned.size === 2), "three static members with two partitions each", 90_000);
      const before = await describeGroup(b.port, topic);
      const generation = members[0]!.generations.at(-1)!.id;
      const watch = watchGroup(b.port, topic);
      for (const n of [1, 0]) {
        const old = members[n]!;
        const owned = [...old.owned].sort();
        const restartAt = performance.now();
        expect(await old.stop()).toBe(0); // close() without LeaveGroup: static members stay in the group
        expect((await describeGroup(b.port, topic)).members.length).toBe(3);
        const again = start(n);
        members[n] = again;
        await waitFor(() => again.generations.length > 0, `instance-${n} to rejoin`, 60_000).catch((e) => {
          throw new Error(`${(e as Error).message}\n${tail(again)}`);
        });
        expect(again.generations[0]!.id).toBe(generation); // the same generation: no rebalance
        expect([...again.owned].sort()).toEqual(owned); // and its partitions back
        expect(again.generations[0]!.memberId).not.toBe(old.generations.at(-1)!.memberId);
        for (const other of members.filter((m) => m !== again)) {
          expect(other.events.filter((e) => e.at > restartAt)).toEqual([]); // no revocation or assignment
        }
      }
      await watch.stop();
      expect(watch.rebalances).toEqual([]); // the group never left Stable
      const after = await describeGroup(b.port, topic);
      expect(after.state).toBe("Stable");
      const idOf = (v: typeof before, inst: string) => v.members.find((x) => x.groupInstanceId === inst)!.memberId;
      expect(idOf(after, "instance-2")).toBe(idOf(before, "instance-2"));
      expect(idOf(after, "instance-1")).not.toBe(idOf(before, "instance-1"));
      // Everyone, the restarted members included, consumes its partitions.
      const producer = await RawClient.connect(b.port);
      await produceRange(producer, topic, 6, 0, 600);
      producer.close();
      await waitFor(() => members.every((m) => m.records.length === 200), "each member to consume its 200 records", 60_000);
      for (const m of members) expect(new Set(m.records.map((r) => r.p))).toEqual(m.owned);
    } finally {
      await Promise.all(members.map((m) => m.stop()));
    }
  }, 240_000);

  test("the AdminClient lists, describes and deletes groups, and reads and deletes their offsets", async () => {
    const b = broker();
    const topic = "java-admin";
    await createTopic(b.port, topic, 3);
    const producer = await RawClient.connect(b.port);
    await produceRange(producer, topic, 3, 0, 300);
    producer.close();
    const admin = (action: string, extra: string[] = []) => runJava(["admin", "--bootstrap", b.bootstrap, "--action", action, "--group", topic, ...extra]);
    const m = member(b.bootstrap, "admin-member", topic, topic);
    try {
      await waitFor(() => [0, 1, 2].every((p) => m.committed.get(p) === 100), "the member to commit all 300 records", 60_000);
      expect(await admin("list")).toContain(`group ${topic} Stable Classic consumer`);
      const described = (await admin("describe")).trim().split("\n");
      expect(described[0]).toBe(`described ${topic} Stable range 1 coordinator=0`);
      expect(described[1]).toMatch(/^member admin-member-\S+ - admin-member \/127\.0\.0\.1 0,1,2$/);
      expect((await admin("offsets")).trim().split("\n").sort()).toEqual([0, 1, 2].map((p) => `offset ${topic} ${p} 100`));
      expect(await admin("delete")).toContain("error delete GroupNotEmptyException");
      expect(await admin("delete-offsets", ["--topic", topic, "--partition", "0"])).toContain("error delete-offsets GroupSubscribedToTopicException");
    } finally {
      expect(await m.stop()).toBe(0);
    }
    expect(await admin("list")).toContain(`group ${topic} Empty Classic consumer`);
    expect(await admin("delete-offsets", ["--topic", topic, "--partition", "0"])).toContain(`deleted-offsets ${topic} ${topic} 0`);
    expect((await admin("offsets")).trim().split("\n").sort()).toEqual([1, 2].map((p) => `offset ${topic} ${p} 100`));
    expect(await admin("delete")).toContain(`deleted ${topic}`);
    expect(await admin("list")).not.toContain(`group ${topic} `);
    expect((await admin("offsets")).trim()).toBe("");
  }, 180_000);
});

describeWithPeer(`${JAVA_PEER_NAME}: commits and broker restarts`, java, () => {
  let broker: SpawnedBroker | null = null;
  const started: Member[] = [];
  afterAll(async () => {
    await Promise.all(started.map((m) => m.stop(5000))); // members a failed test left running
    if (broker && broker.proc.exitCode === null) {
      broker.kill("SIGKILL");
      await broker.exited;
    }
  });

  async function committedOffsets(bootstrap: string, group: string): Promise<Map<number, number>> {
    const out = await runJava(["admin", "--bootstrap", bootstrap, "--action", "offsets", "--group", group]);
    return new Map(out.trim().split("\n").filter(Boolean).map((l) => l.split(" ")).map((f) => [Number(f[2]), Number(f[3])]));
  }

  test("an acknowledged commit survives kill -9 of the broker, and a graceful restart; the group resumes from it", async () => {
    const args = ["--group-initial-rebalance-delay", "0s", "--group-min-session-timeout", "1s"];
    broker = await spawnBroker({ args });
    const { port, dataDir } = broker;
    const topic = "durable";
    await createTopic(port, topic, 3);
    const producer = await RawClient.connect(port);
    for (let i = 0; i < 6000; i += 1000) await produceRange(producer, topic, 3, i, i + 1000);
    producer.close();
    const group = "durable";
    // Small polls: a commit every 20 records, so the kill lands among commits.
    const first = member(broker.bootstrap, "durable-0", topic, group, ["--max-poll-records", "20", "--session-timeout-ms", "3000"]);
    started.push(first);
    // It reads the partitions one after the other: wait for commits on the third.
    await waitFor(() => first.committed.size === 3, "commits on every partition", 60_000);
    broker.kill("SIGKILL");
    await broker.exited;
    first.proc.kill("SIGKILL");
    await first.exited;
    const acked = new Map(first.committed);
    expect(acked.size).toBe(3);

    broker = await spawnBroker({ args, dataDir, port });
    const afterCrash = await committedOffsets(broker.bootstrap, group);
    for (const [p, o] of acked) expect(afterCrash.get(p)!).toBeGreaterThanOrEqual(o); // never behind an ack
    for (const o of afterCrash.values()) expect(o).toBeLessThanOrEqual(2000);

    // A new member resumes exactly at the committed offsets and finishes the topic.
    const second = member(broker.bootstrap, "durable-1", topic, group, ["--session-timeout-ms", "3000"]);
    started.push(second);
    await waitFor(() => [0, 1, 2].every((p) => (second.committed.get(p) ?? afterCrash.get(p)) === 2000), "the rest consumed and committed", 60_000).catch((e) => {
      throw new Error(`${(e as Error).message}\n${tail(second)}`);
    });
    for (const p of [0, 1, 2]) expect(second.records.find((r) => r.p === p)?.o ?? 2000).toBe(afterCrash.get(p)!);
    expect(await second.stop()).toBe(0);

    broker.kill("SIGTERM");
    expect(await broker.exited).toBe(0);
    broker = await spawnBroker({ args, dataDir, port });
    expect(await committedOffsets(broker.bootstrap, group)).toEqual(new Map([[0, 2000], [1, 2000], [2, 2000]]));
    broker.kill("SIGTERM");
    expect(await broker.exited).toBe(0);
  }, 240_000);
});
