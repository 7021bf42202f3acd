// The group coordinator at the protocol level: the join/sync round trip (MEMBER_ID_REQUIRED, leader election,
// assignments), rebalances on join/leave/expiry, static membership, offsets, admin APIs, persistence across
// restarts, and each bad input from the issue (the group keeps working for its other members every time).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startBroker, type TestBroker } from "../helpers/broker.ts";
import { RawClient } from "../helpers/raw-client.ts";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { Writer } from "../../src/protocol/codec.ts";
import { writeConsumerProtocolSubscription } from "../../src/protocol/messages/consumer-protocol.ts";

let b: TestBroker;
let c: RawClient;

function subscription(topics: string[]): Uint8Array {
  const w = new Writer();
  w.i16(0);
  writeConsumerProtocolSubscription(w, { topics, userData: null }, 0);
  return w.finish().slice();
}

interface JoinOpts {
  memberId?: string;
  instance?: string | null;
  session?: number;
  rebalance?: number;
  protocols?: { name: string; metadata: Uint8Array }[];
  protocolType?: string;
  version?: number;
  client?: RawClient;
}

function join(group: string, o: JoinOpts = {}) {
  const v = o.version ?? 9;
  return (o.client ?? c).request(11, v, {
    groupId: group,
    sessionTimeoutMs: o.session ?? 10_000,
    rebalanceTimeoutMs: o.rebalance ?? 10_000,
    memberId: o.memberId ?? "",
    groupInstanceId: o.instance ?? null,
    protocolType: o.protocolType ?? "consumer",
    protocols: o.protocols ?? [{ name: "range", metadata: subscription(["gt"]) }],
    reason: null,
  }, 30_000);
}

/** JoinGroup v9 including the MEMBER_ID_REQUIRED round trip. */
async function joinFully(group: string, o: JoinOpts = {}) {
  const first = await join(group, o);
  if (first.errorCode !== ErrorCode.MEMBER_ID_REQUIRED) return first;
  return join(group, { ...o, memberId: first.memberId });
}

function sync(group: string, generationId: number, memberId: string, assignments: { memberId: string; assignment: Uint8Array }[] = [], client = c, instance: string | null = null) {
  return client.request(14, 5, { groupId: group, generationId, memberId, groupInstanceId: instance, protocolType: "consumer", protocolName: "range", assignments }, 30_000);
}

const heartbeat = (group: string, generationId: number, memberId: string, instance: string | null = null, client = c) =>
  client.request(12, 4, { groupId: group, generationId, memberId, groupInstanceId: instance });

async function commit(group: string, generation: number, memberId: string, parts: [string, number, bigint][], client = c) {
  const byTopic = new Map<string, { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; committedMetadata: string }[]>();
  for (const [t, p, o] of parts) {
    if (!byTopic.has(t)) byTopic.set(t, []);
    byTopic.get(t)!.push({ partitionIndex: p, committedOffset: o, committedLeaderEpoch: -1, committedMetadata: "meta" });
  }
  const r = await client.request(8, 8, { groupId: group, generationIdOrMemberEpoch: generation, memberId, groupInstanceId: null, topics: [...byTopic].map(([name, partitions]) => ({ name, partitions })) });
  return r.topics.flatMap((t: { partitions: { errorCode: number }[] }) => t.partitions.map((p) => p.errorCode));
}

async function fetchOffsets(group: string, topics: { name: string; partitionIndexes: number[] }[] | null = null) {
  const r = await c.request(9, 9, { groups: [{ groupId: group, memberId: null, memberEpoch: -1, topics }], requireStable: true });
  return r.groups[0].topics as { name: string; partitions: { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number; metadata: string; errorCode: number }[] }[];
}

beforeAll(async () => {
  b = await startBroker({ groupInitialRebalanceDelayMs: 0, groupMinSessionTimeoutMs: 500 });
  c = await RawClient.connect(b.port);
  await c.request(19, 7, { topics: [{ name: "gt", numPartitions: 6, replicationFactor: 1, assignments: [], configs: [] }], timeoutMs: 5000 });
});

afterAll(async () => {
  c.close();
  await b.stop();
  b.cleanup();
});

describe("join and sync", () => {
  test("MEMBER_ID_REQUIRED, then a one-member generation with this member as leader, then its assignment", async () => {
    const first = await join("g1");
    expect(first.errorCode).toBe(ErrorCode.MEMBER_ID_REQUIRED);
    expect(first.memberId).toMatch(/^raw-test-/);
    const j = await join("g1", { memberId: first.memberId });
    expect(j).toMatchObject({ errorCode: 0, generationId: 1, protocolType: "consumer", protocolName: "range", leader: first.memberId, memberId: first.memberId });
    expect(j.members.map((m: { memberId: string }) => m.memberId)).toEqual([first.memberId]);
    const s = await sync("g1", 1, j.memberId, [{ memberId: j.memberId, assignment: new Uint8Array([1, 2, 3]) }]);
    expect(s.errorCode).toBe(0);
    expect([...s.assignment]).toEqual([1, 2, 3]);
    expect((await heartbeat("g1", 1, j.memberId)).errorCode).toBe(0);
    const d = await c.request(15, 5, { groups: ["g1"], includeAuthorizedOperations: false });
    expect(d.groups[0]).toMatchObject({ groupState: "Stable", protocolType: "consumer", protocolData: "range" });
    expect([...d.groups[0].members[0].memberAssignment]).toEqual([1, 2, 3]);
  });

  test("a second member triggers a rebalance: the first learns it from its heartbeat, both rejoin, the leader assigns", async () => {
    const c2 = await RawClient.connect(b.port);
    const a = await joinFully("g2");
    await sync("g2", a.generationId, a.memberId, [{ memberId: a.memberId, assignment: new Uint8Array([9]) }]);
    const bJoin = joinFully("g2", { client: c2 });
    await Bun.sleep(100);
    expect((await heartbeat("g2", a.generationId, a.memberId)).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const aJoin = await join("g2", { memberId: a.memberId });
    const bj = await bJoin;
    expect(aJoin.generationId).toBe(a.generationId + 1);
    expect(bj.generationId).toBe(aJoin.generationId);
    expect(aJoin.leader).toBe(a.memberId); // the old leader stays leader
    expect(aJoin.members.length).toBe(2);
    expect(bj.members.length).toBe(0);
    const followerSync = sync("g2", bj.generationId, bj.memberId, [], c2);
    const leaderSync = await sync("g2", aJoin.generationId, a.memberId, [
      { memberId: a.memberId, assignment: new Uint8Array([1]) },
      { memberId: bj.memberId, assignment: new Uint8Array([2]) },
    ]);
    expect([...leaderSync.assignment]).toEqual([1]);
    expect([...(await followerSync).assignment]).toEqual([2]);
    // Leaving rebalances the rest; the leaver's id is gone.
    const leave = await c2.request(13, 5, { groupId: "g2", members: [{ memberId: bj.memberId, groupInstanceId: null, reason: "done" }] });
    expect(leave.members[0].errorCode).toBe(0);
    expect((await heartbeat("g2", aJoin.generationId, a.memberId)).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const again = await join("g2", { memberId: a.memberId });
    expect(again.members.length).toBe(1);
    expect((await heartbeat("g2", again.generationId, bj.memberId)).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    c2.close();
  });

  test("a member that stops heartbeating is evicted after its session timeout and the others rebalance", async () => {
    const c2 = await RawClient.connect(b.port);
    const a = await joinFully("g3", { session: 1000 });
    await sync("g3", a.generationId, a.memberId);
    const bJoin = joinFully("g3", { client: c2, session: 600 });
    await Bun.sleep(50);
    const aj = await join("g3", { memberId: a.memberId, session: 1000 });
    const bj = await bJoin;
    await Promise.all([sync("g3", aj.generationId, a.memberId, []), sync("g3", bj.generationId, bj.memberId, [], c2)]);
    // a keeps heartbeating, b goes silent.
    let rebalance = false;
    const deadline = Date.now() + 5000;
    while (!rebalance && Date.now() < deadline) {
      await Bun.sleep(200);
      rebalance = (await heartbeat("g3", aj.generationId, a.memberId)).errorCode === ErrorCode.REBALANCE_IN_PROGRESS;
    }
    expect(rebalance).toBe(true);
    const alone = await join("g3", { memberId: a.memberId, session: 1000 });
    expect(alone.members.map((m: { memberId: string }) => m.memberId)).toEqual([a.memberId]);
    c2.close();
  });

  test("rejoining with the same protocols in a Stable group returns the current generation without a rebalance", async () => {
    const c2 = await RawClient.connect(b.port);
    const a = await joinFully("g4");
    const bJoin = joinFully("g4", { client: c2 });
    await Bun.sleep(50);
    const aj = await join("g4", { memberId: a.memberId });
    const bj = await bJoin;
    await Promise.all([sync("g4", aj.generationId, a.memberId, []), sync("g4", bj.generationId, bj.memberId, [], c2)]);
    const again = await join("g4", { memberId: bj.memberId, client: c2 });
    expect([again.errorCode, again.generationId, again.leader]).toEqual([0, aj.generationId, a.memberId]);
    expect((await heartbeat("g4", aj.generationId, a.memberId)).errorCode).toBe(0);
    c2.close();
  });
});

describe("initial rebalance delay", () => {
  test("members arriving one after another during the delay extend it, also for an Empty group used before", async () => {
    const d = await startBroker({ groupInitialRebalanceDelayMs: 600, groupMinSessionTimeoutMs: 500 });
    const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(d.port)));
    try {
      // The group has a history: one member, one generation, then it left.
      const first = await joinFully("gd", { client: clients[0], rebalance: 5000 });
      await sync("gd", first.generationId, first.memberId, [], clients[0]);
      await clients[0]!.request(13, 5, { groupId: "gd", members: [{ memberId: first.memberId, groupInstanceId: null, reason: null }] });
      // Three members arrive 400 ms apart: the third comes after the first 600 ms, but the delay was extended because
      // the second came within it; so one generation takes all three.
      const joins = [];
      for (const [i, cl] of clients.entries()) {
        if (i) await Bun.sleep(400);
        joins.push(joinFully("gd", { client: cl, rebalance: 5000 }));
      }
      const results = await Promise.all(joins);
      expect(new Set(results.map((r) => r.generationId))).toEqual(new Set([first.generationId + 2]));
      expect(results.find((r) => r.leader === r.memberId)!.members.length).toBe(3);
    } finally {
      for (const cl of clients) cl.close();
      await d.stop();
      d.cleanup();
    }
  });
});

describe("static membership", () => {
  test("a restarted static member gets its assignment back without a rebalance; the old incarnation is fenced", async () => {
    const c2 = await RawClient.connect(b.port);
    const a = await join("gs", { instance: "app-1" });
    expect(a.errorCode).toBe(0); // static members skip MEMBER_ID_REQUIRED
    const bJoin = join("gs", { instance: "app-2", client: c2 });
    await Bun.sleep(50);
    const aj = await join("gs", { memberId: a.memberId, instance: "app-1" });
    const bj = await bJoin;
    const assign = [{ memberId: aj.leader === a.memberId ? a.memberId : bj.memberId, assignment: new Uint8Array([7]) }, { memberId: aj.leader === a.memberId ? bj.memberId : a.memberId, assignment: new Uint8Array([8]) }];
    await Promise.all([sync("gs", aj.generationId, a.memberId, assign, c, "app-1"), sync("gs", bj.generationId, bj.memberId, assign, c2, "app-2")]);
    const before = (await c.request(15, 5, { groups: ["gs"], includeAuthorizedOperations: false })).groups[0];
    const oldAssignment = before.members.find((m: { groupInstanceId: string }) => m.groupInstanceId === "app-2").memberAssignment;

    // app-2 restarts: joins with no member id and its instance id.
    const c3 = await RawClient.connect(b.port);
    const re = await join("gs", { instance: "app-2", client: c3 });
    expect(re.errorCode).toBe(0);
    expect(re.generationId).toBe(aj.generationId); // no new generation
    expect(re.memberId).not.toBe(bj.memberId);
    const s = await sync("gs", re.generationId, re.memberId, [], c3, "app-2");
    expect([...s.assignment]).toEqual([...oldAssignment]);
    expect((await heartbeat("gs", aj.generationId, a.memberId, "app-1")).errorCode).toBe(0); // app-1 undisturbed
    // The old incarnation of app-2 is fenced.
    expect((await heartbeat("gs", bj.generationId, bj.memberId, "app-2", c2)).errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    const fencedJoin = await join("gs", { memberId: bj.memberId, instance: "app-2", client: c2 });
    expect(fencedJoin.errorCode).toBe(ErrorCode.FENCED_INSTANCE_ID);
    // Leaving by instance id.
    const leave = await c3.request(13, 5, { groupId: "gs", members: [{ memberId: "", groupInstanceId: "app-2", reason: null }] });
    expect(leave.members[0].errorCode).toBe(0);
    c2.close();
    c3.close();
  });
});

describe("static membership across rebalances (Kafka's rules)", () => {
  const describeMembers = async (group: string) => (await c.request(15, 5, { groups: [group], includeAuthorizedOperations: false })).groups[0];

  test("a rejoining static leader is told to skip the assignment from v9 (KIP-814); before v9 it gets the old leader id", async () => {
    for (const [version, group] of [[9, "gk9"], [5, "gk5"]] as const) {
      const first = await join(group, { instance: "lead", version });
      expect(first.leader).toBe(first.memberId);
      const s = await sync(group, first.generationId, first.memberId, [{ memberId: first.memberId, assignment: new Uint8Array([5]) }], c, "lead");
      expect(s.errorCode).toBe(0);
      const c2 = await RawClient.connect(b.port);
      const re = await join(group, { instance: "lead", version, client: c2 });
      expect([re.errorCode, re.generationId]).toEqual([0, first.generationId]); // no rebalance
      if (version >= 9) {
        expect([re.leader, re.skipAssignment]).toEqual([re.memberId, true]);
        expect(re.members.map((m: { memberId: string; groupInstanceId: string }) => [m.memberId, m.groupInstanceId])).toEqual([[re.memberId, "lead"]]);
      } else {
        expect([re.leader, re.members]).toEqual([first.memberId, []]);
      }
      const again = await c2.request(14, 3, { groupId: group, generationId: re.generationId, memberId: re.memberId, groupInstanceId: "lead", assignments: [] });
      expect([...again.assignment]).toEqual([5]);
      c2.close();
    }
  });

  test("a static member that misses a rebalance stays in the group with an assignment, and takes it up when it returns", async () => {
    const cs = await Promise.all([1, 2].map(() => RawClient.connect(b.port)));
    const [c1, c2] = cs as [RawClient, RawClient];
    const a = await join("gm", { instance: "s-a", rebalance: 1500, client: c1 });
    const bJoin = join("gm", { instance: "s-b", rebalance: 1500, client: c2 });
    await Bun.sleep(50);
    const aj = await join("gm", { instance: "s-a", memberId: a.memberId, rebalance: 1500, client: c1 });
    const bj = await bJoin;
    await Promise.all([sync("gm", aj.generationId, a.memberId, [], c1, "s-a"), sync("gm", bj.generationId, bj.memberId, [], c2, "s-b")]);
    // s-b goes away without leaving (a restart); a dynamic member arrives and s-a rejoins; s-b does not.
    const newcomer = joinFully("gm", { rebalance: 1500 });
    await Bun.sleep(50);
    const aj2 = await join("gm", { instance: "s-a", memberId: a.memberId, rebalance: 1500, client: c1 });
    const nj = await newcomer;
    expect(aj2.generationId).toBe(aj.generationId + 1); // completed at the rebalance timeout, with s-b kept
    expect(aj2.leader).toBe(a.memberId);
    expect(aj2.members.map((m: { groupInstanceId: string | null }) => m.groupInstanceId).sort()).toEqual([null, "s-a", "s-b"]);
    const assign = [a.memberId, nj.memberId, bj.memberId].map((memberId, i) => ({ memberId, assignment: new Uint8Array([i]) }));
    await Promise.all([sync("gm", aj2.generationId, a.memberId, assign, c1, "s-a"), sync("gm", nj.generationId, nj.memberId)]);
    expect((await describeMembers("gm")).groupState).toBe("Stable");
    // s-b returns within its session timeout: the assignment the leader made for it, no new generation.
    const c3 = await RawClient.connect(b.port);
    const back = await join("gm", { instance: "s-b", rebalance: 1500, client: c3 });
    expect([back.errorCode, back.generationId]).toEqual([0, aj2.generationId]);
    expect([...(await sync("gm", back.generationId, back.memberId, [], c3, "s-b")).assignment]).toEqual([2]);
    expect((await heartbeat("gm", aj2.generationId, a.memberId, "s-a", c1)).errorCode).toBe(0);
    for (const x of [c1, c2, c3]) x.close();
  });

  test("a member that never sends SyncGroup is removed after the rebalance timeout, also once the group is Stable", async () => {
    const c2 = await RawClient.connect(b.port);
    const a = await joinFully("gy", { rebalance: 1000 });
    const lateJoin = joinFully("gy", { rebalance: 1000, client: c2 });
    await Bun.sleep(50);
    const aj = await join("gy", { memberId: a.memberId, rebalance: 1000 });
    const silent = await lateJoin;
    // The leader syncs (the group becomes Stable); the other member never does.
    expect((await sync("gy", aj.generationId, a.memberId, [{ memberId: a.memberId, assignment: new Uint8Array([1]) }])).errorCode).toBe(0);
    expect((await describeMembers("gy")).groupState).toBe("Stable");
    await Bun.sleep(1300);
    expect((await heartbeat("gy", aj.generationId, a.memberId)).errorCode).toBe(ErrorCode.REBALANCE_IN_PROGRESS);
    const alone = await join("gy", { memberId: a.memberId, rebalance: 1000 });
    expect(alone.members.map((m: { memberId: string }) => m.memberId)).toEqual([a.memberId]);
    expect((await heartbeat("gy", alone.generationId, silent.memberId, null, c2)).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    c2.close();
  });
});

describe("offsets", () => {
  test("simple consumers commit with generation -1; fetch by partition and all; metadata; delete", async () => {
    expect(await commit("simple", -1, "", [["gt", 0, 42n], ["gt", 3, 7n]])).toEqual([0, 0]);
    const all = await fetchOffsets("simple");
    expect(all).toEqual([{ name: "gt", partitions: [{ partitionIndex: 0, committedOffset: 42n, committedLeaderEpoch: -1, metadata: "meta", errorCode: 0 }, { partitionIndex: 3, committedOffset: 7n, committedLeaderEpoch: -1, metadata: "meta", errorCode: 0 }] }]);
    const some = await fetchOffsets("simple", [{ name: "gt", partitionIndexes: [3, 4] }]);
    expect(some[0]!.partitions.map((p) => p.committedOffset)).toEqual([7n, -1n]);
    const v1 = await c.request(9, 1, { groupId: "simple", topics: [{ name: "gt", partitionIndexes: [0] }] });
    expect(v1.topics[0].partitions[0].committedOffset).toBe(42n);
    // v8+: several groups in one request, each answered on its own.
    expect(await commit("simple-2", -1, "", [["gt", 5, 9n]])).toEqual([0]);
    const both = await c.request(9, 9, { groups: ["simple", "simple-2", "never-committed"].map((groupId) => ({ groupId, memberId: null, memberEpoch: -1, topics: null })), requireStable: false });
    expect(both.groups.map((g: { groupId: string; errorCode: number; topics: { partitions: { partitionIndex: number; committedOffset: bigint }[] }[] }) => [g.groupId, g.errorCode, g.topics.flatMap((t) => t.partitions.map((p) => [p.partitionIndex, p.committedOffset]))])).toEqual([
      ["simple", 0, [[0, 42n], [3, 7n]]],
      ["simple-2", 0, [[5, 9n]]],
      ["never-committed", 0, []],
    ]);
    const del = await c.request(47, 0, { groupId: "simple", topics: [{ name: "gt", partitions: [{ partitionIndex: 0 }] }] });
    expect(del.errorCode).toBe(0);
    expect((await fetchOffsets("simple", [{ name: "gt", partitionIndexes: [0] }]))[0]!.partitions[0]!.committedOffset).toBe(-1n);
  });

  test("members commit with their generation; a live group's subscribed topic cannot lose its offsets", async () => {
    const a = await joinFully("gc");
    await sync("gc", a.generationId, a.memberId);
    expect(await commit("gc", a.generationId, a.memberId, [["gt", 1, 5n]])).toEqual([0]);
    expect(await commit("gc", a.generationId + 5, a.memberId, [["gt", 1, 6n]])).toEqual([ErrorCode.ILLEGAL_GENERATION]);
    expect(await commit("gc", a.generationId, "stranger", [["gt", 1, 6n]])).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    expect(await commit("gc", -1, "", [["gt", 1, 6n]])).toEqual([ErrorCode.UNKNOWN_MEMBER_ID]);
    const del = await c.request(47, 0, { groupId: "gc", topics: [{ name: "gt", partitions: [{ partitionIndex: 1 }] }] });
    expect(del.topics[0].partitions[0].errorCode).toBe(ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC);
    expect((await fetchOffsets("gc"))[0]!.partitions[0]!.committedOffset).toBe(5n);
    await c.request(13, 5, { groupId: "gc", members: [{ memberId: a.memberId, groupInstanceId: null, reason: null }] });
  });
});

describe("admin: list, describe, delete", () => {
  test("ListGroups with state filters; DescribeGroups of an unknown group; DeleteGroups refuses a live group", async () => {
    const a = await joinFully("ga");
    await sync("ga", a.generationId, a.memberId);
    await commit("ga-empty", -1, "", [["gt", 0, 1n]]);
    const all = await c.request(16, 5, { statesFilter: [], typesFilter: [] });
    const names = all.groups.map((g: { groupId: string }) => g.groupId);
    expect(names).toContain("ga");
    expect(names).toContain("ga-empty");
    const stable = await c.request(16, 4, { statesFilter: ["stable"] });
    expect(stable.groups.map((g: { groupId: string }) => g.groupId)).toContain("ga");
    expect(stable.groups.map((g: { groupId: string }) => g.groupId)).not.toContain("ga-empty");
    expect(all.groups.find((g: { groupId: string }) => g.groupId === "ga")).toMatchObject({ protocolType: "consumer", groupState: "Stable", groupType: "classic" });
    const unknown = await c.request(15, 5, { groups: ["nobody"], includeAuthorizedOperations: false });
    expect(unknown.groups[0]).toMatchObject({ errorCode: 0, groupState: "Dead", members: [] });
    const d = await c.request(42, 2, { groupsNames: ["ga", "ga-empty", "nobody"] });
    expect(d.results.map((r: { errorCode: number }) => r.errorCode)).toEqual([ErrorCode.NON_EMPTY_GROUP, 0, ErrorCode.GROUP_ID_NOT_FOUND]);
    expect((await fetchOffsets("ga-empty"))).toEqual([]);
    expect((await heartbeat("ga", a.generationId, a.memberId)).errorCode).toBe(0); // the refused group carries on
  });
});

describe("bad input: clear errors, and the group keeps working for its other members", () => {
  let a: { memberId: string; generationId: number };
  beforeAll(async () => {
    a = await joinFully("gb");
    await sync("gb", a.generationId, a.memberId);
  });
  const stillWorks = async () => expect((await heartbeat("gb", a.generationId, a.memberId)).errorCode).toBe(0);

  test("unknown member id", async () => {
    expect((await heartbeat("gb", a.generationId, "nobody")).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect((await join("gb", { memberId: "nobody" })).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    expect((await sync("gb", a.generationId, "nobody")).errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    const leave = await c.request(13, 5, { groupId: "gb", members: [{ memberId: "nobody", groupInstanceId: null, reason: null }] });
    expect(leave.members[0].errorCode).toBe(ErrorCode.UNKNOWN_MEMBER_ID);
    await stillWorks();
  });

  test("stale generation", async () => {
    expect((await heartbeat("gb", a.generationId - 1, a.memberId)).errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
    expect((await sync("gb", a.generationId + 3, a.memberId)).errorCode).toBe(ErrorCode.ILLEGAL_GENERATION);
    await stillWorks();
  });

  test("join without protocols, or with protocols no member shares, or of another protocol type", async () => {
    expect((await join("gb", { protocols: [] })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await join("gb", { protocols: [{ name: "roundrobin-only", metadata: subscription(["gt"]) }] })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await join("gb", { protocolType: "connect" })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    expect((await join("gb", { protocolType: "" })).errorCode).toBe(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    await stillWorks();
  });

  test("session timeout outside the broker's bounds", async () => {
    expect((await join("gb", { session: 100 })).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    expect((await join("gb", { session: 31 * 60_000 })).errorCode).toBe(ErrorCode.INVALID_SESSION_TIMEOUT);
    await stillWorks();
  });

  test("commit for a partition that does not exist", async () => {
    expect(await commit("gb", a.generationId, a.memberId, [["gt", 99, 1n], ["gt", 0, 3n], ["no-such-topic", 0, 1n]])).toEqual([ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]);
    await stillWorks();
  });

  test("commit metadata over 4096 bytes", async () => {
    const r = await c.request(8, 8, { groupId: "gb", generationIdOrMemberEpoch: a.generationId, memberId: a.memberId, groupInstanceId: null, topics: [{ name: "gt", partitions: [{ partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: "x".repeat(5000) }] }] });
    expect(r.topics[0].partitions[0].errorCode).toBe(ErrorCode.OFFSET_METADATA_TOO_LARGE);
    await stillWorks();
  });

  test("invalid group id", async () => {
    expect((await join("")).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    expect((await heartbeat("", 1, "x")).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    expect((await sync("", 1, "x")).errorCode).toBe(ErrorCode.INVALID_GROUP_ID);
    await stillWorks();
  });

  test("DeleteGroups on a group with members", async () => {
    const d = await c.request(42, 2, { groupsNames: ["gb"] });
    expect(d.results[0].errorCode).toBe(ErrorCode.NON_EMPTY_GROUP);
    await stillWorks();
  });
});

describe("persistence", () => {
  test("committed offsets and a Stable group survive a restart; its member carries on without rejoining", async () => {
    const a = await joinFully("gp", { session: 20_000 });
    await sync("gp", a.generationId, a.memberId, [{ memberId: a.memberId, assignment: new Uint8Array([4, 2]) }]);
    expect(await commit("gp", a.generationId, a.memberId, [["gt", 2, 1234n]])).toEqual([0]);
    c.close();
    b = await b.restart();
    c = await RawClient.connect(b.port);
    expect((await fetchOffsets("gp"))[0]!.partitions[0]!.committedOffset).toBe(1234n);
    expect((await heartbeat("gp", a.generationId, a.memberId)).errorCode).toBe(0);
    const s = await sync("gp", a.generationId, a.memberId);
    expect([...s.assignment]).toEqual([4, 2]);
    const d = await c.request(15, 5, { groups: ["gp"], includeAuthorizedOperations: false });
    expect(d.groups[0].groupState).toBe("Stable");
    expect((await fetchOffsets("simple", [{ name: "gt", partitionIndexes: [3] }]))[0]!.partitions[0]!.committedOffset).toBe(7n);
    // Groups that exist only through committed offsets are listed and described after the restart too (Kafka does).
    const listed = (await c.request(16, 5, { statesFilter: [], typesFilter: [] })).groups;
    for (const id of ["simple", "simple-2"]) {
      expect(listed.find((g: { groupId: string }) => g.groupId === id)).toEqual({ groupId: id, protocolType: "", groupState: "Empty", groupType: "classic" });
    }
    expect((await c.request(16, 4, { statesFilter: ["Empty"] })).groups.map((g: { groupId: string }) => g.groupId)).toContain("simple-2");
    const simple = (await c.request(15, 5, { groups: ["simple"], includeAuthorizedOperations: false })).groups[0];
    expect(simple).toMatchObject({ errorCode: 0, groupState: "Empty", protocolType: "", protocolData: "", members: [] });
  });
});
