// Consumer-group members as real client processes, and the scenario every client's group suite runs.
//
// Every member program (KliteJavaClient `group`, client.py `group`, the Go peer's `group`, kcat -G with a format,
// the KafkaJS member) prints the same line protocol on stdout:
//   r <partition> <offset> <key>     a record it processed
//   assigned <p,p,..|->              partitions given to it (eager: all of them; cooperative: the added ones)
//   revoked <p,..|->   lost <p,..|-> partitions taken away
//   generation <id> <member id>      after an assignment, where the client tells
//   committed <p>:<offset>,..        a commit the broker acknowledged
//   commit-failed <why>   closed     (anything else is kept as text)
// A member is stopped by pid: SIGTERM (its client closes and, if dynamic, leaves the group), SIGKILL after a grace.
import { afterAll, beforeAll, expect } from "bun:test";
import type { Subprocess } from "bun";
import { startBroker, waitFor, type TestBroker } from "./broker.ts";
import { RawClient } from "./raw-client.ts";
import { createTopic } from "./stored.ts";
import { buildBatch } from "../../src/protocol/records.ts";

export interface GroupEvent {
  at: number;
  kind: "assigned" | "revoked" | "lost";
  partitions: number[];
}

export interface Member {
  name: string;
  pid: number;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  /** Records processed, in order. */
  records: { p: number; o: number; key: string; at: number }[];
  events: GroupEvent[];
  generations: { id: number; memberId: string }[];
  /** Last acknowledged committed offset per partition. */
  committed: Map<number, number>;
  /** Why commits were refused (the client's words, e.g. an exception name). */
  commitFailures: string[];
  /** Partitions it owns now, per its assigned/revoked/lost lines. */
  owned: Set<number>;
  stdout(): string;
  stderr(): string;
  exited: Promise<number>;
  /** SIGTERM, then SIGKILL after graceMs; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

const parts = (csv: string | undefined) => (!csv || csv === "-" ? [] : csv.split(",").map(Number));

/** Starts a member process and parses its stdout as it arrives. */
export function spawnMember(name: string, cmd: string[], env: Record<string, string> = {}): Member {
  const proc = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let out = "";
  let err = "";
  let partial = "";
  const m: Member = {
    name,
    pid: proc.pid,
    proc,
    records: [],
    events: [],
    generations: [],
    committed: new Map(),
    commitFailures: [],
    owned: new Set(),
    stdout: () => out,
    stderr: () => err,
    exited: null as unknown as Promise<number>,
    async stop(graceMs = 30_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return m.exited;
      proc.kill("SIGTERM");
      const code = await Promise.race([m.exited, Bun.sleep(graceMs).then(() => null)]);
      if (code !== null) return code;
      proc.kill("SIGKILL");
      return m.exited;
    },
  };
  const line = (l: string) => {
    const f = l.split(" ");
    const at = performance.now();
    switch (f[0]) {
      case "r":
        m.records.push({ p: Number(f[1]), o: Number(f[2]), key: f[3] ?? "", at });
        break;
      case "assigned":
      case "revoked":
      case "lost": {
        const ps = parts(f[1]);
        m.events.push({ at, kind: f[0], partitions: ps });
        for (const p of ps) if (f[0] === "assigned") m.owned.add(p);
        else m.owned.delete(p);
        break;
      }
      case "generation":
        m.generations.push({ id: Number(f[1]), memberId: f[2] ?? "" });
        break;
      case "committed":
        for (const pair of (f[1] ?? "").split(",")) {
          const [p, o] = pair.split(":").map(Number);
          if (p !== undefined && o !== undefined && !Number.isNaN(o)) m.committed.set(p, o);
        }
        break;
      case "commit-failed":
        m.commitFailures.push(f.slice(1).join(" "));
        break;
    }
  };
  const pumpOut = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stdout) {
      const text = dec.decode(chunk, { stream: true });
      out += text;
      const lines = (partial + text).split("\n");
      partial = lines.pop()!;
      for (const l of lines) line(l.trimEnd());
    }
    if (partial) line(partial.trimEnd());
  })();
  const pumpErr = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) err += dec.decode(chunk, { stream: true });
  })();
  m.exited = proc.exited.then(async (code) => {
    await Promise.all([pumpOut, pumpErr]).catch(() => {});
    return code;
  });
  return m;
}

/** The last lines of a member's output, for failure messages. */
export function tail(m: Member, lines = 15): string {
  const pick = (s: string) => s.trim().split("\n").filter((l) => !l.startsWith("r ") && !l.startsWith("committed ")).slice(-lines).join("\n");
  const next = new Map<number, number>();
  for (const r of m.records) next.set(r.p, Math.max(next.get(r.p) ?? 0, r.o + 1));
  const progress = [...next].sort((x, y) => x[0] - y[0]).map(([p, o]) => `${p}:${o}`).join(",");
  return `--- ${m.name} (pid ${m.pid}) owns [${[...m.owned]}], processed up to ${progress}, committed ${[...m.committed].map(([p, o]) => `${p}:${o}`)}; stdout (records and commits omitted):\n${pick(m.stdout())}\n--- stderr:\n${pick(m.stderr())}`;
}

// --- the broker side, through our own codec ------------------------------------------------------------------

/**
 * An in-process broker for a group suite, started before its tests and stopped after them: a 300 ms initial
 * rebalance delay and a 1 s minimum session timeout keep rebalances and evictions quick.
 */
export function groupBroker(): () => TestBroker {
  let b: TestBroker | undefined;
  beforeAll(async () => {
    b = await startBroker({ groupInitialRebalanceDelayMs: 300, groupMinSessionTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await b?.stop();
    b?.cleanup();
  });
  return () => {
    if (!b) throw new Error("the group suite's broker did not start");
    return b;
  };
}

export interface GroupView {
  state: string;
  protocol: string;
  members: { memberId: string; groupInstanceId: string | null; clientId: string }[];
}

/** DescribeGroups over `via` (a connection to reuse, or a port to open a short-lived one on). */
export async function describeGroup(via: number | RawClient, group: string): Promise<GroupView> {
  const c = typeof via === "number" ? await RawClient.connect(via) : via;
  try {
    const d = (await c.request(15, 5, { groups: [group], includeAuthorizedOperations: false })).groups[0];
    return { state: d.groupState, protocol: d.protocolData, members: d.members };
  } finally {
    if (typeof via === "number") c.close();
  }
}

/**
 * Polls DescribeGroups every 25 ms and records each period the group spends outside Stable (a rebalance), so a
 * test can report how long rebalances took. stop() ends the polling.
 */
export function watchGroup(port: number, group: string) {
  const rebalances: { from: number; to: number | null; members: number }[] = [];
  /** Protocols (assignors) the group was Stable with. */
  const protocols = new Set<string>();
  let running = true;
  const done = (async () => {
    const client = await RawClient.connect(port);
    try {
      while (running) {
        const d = (await client.request(15, 5, { groups: [group], includeAuthorizedOperations: false }).catch(() => null))?.groups?.[0];
        if (d) {
          const open = rebalances.at(-1);
          const inRebalance = d.groupState === "PreparingRebalance" || d.groupState === "CompletingRebalance";
          if (inRebalance && (!open || open.to !== null)) rebalances.push({ from: performance.now(), to: null, members: 0 });
          if (d.groupState === "Stable") protocols.add(d.protocolData);
          if (d.groupState === "Stable" && open && open.to === null) {
            open.to = performance.now();
            open.members = d.members.length;
          }
        }
        await Bun.sleep(25);
      }
    } finally {
      client.close();
    }
  })();
  return {
    rebalances,
    protocols,
    async stop() {
      running = false;
      await done.catch(() => {});
    },
    /** Completed rebalances as "N ms (M members)". */
    summary: () => rebalances.filter((r) => r.to !== null).map((r) => `${Math.round(r.to! - r.from)} ms (${r.members} members)`).join(", "),
  };
}

export const keyOf = (i: number) => `k-${i}`;

/**
 * Produces records [from, to) of the model the group suites share: record i goes to partition i % partitions with
 * key k-<i>, so on a fresh topic it lands at offset floor(i / partitions). One acks=-1 batch per partition.
 */
export async function produceRange(c: RawClient, topic: string, partitions: number, from: number, to: number): Promise<void> {
  const byPartition = Array.from({ length: partitions }, () => [] as { key: Uint8Array; value: Uint8Array }[]);
  const enc = new TextEncoder();
  for (let i = from; i < to; i++) byPartition[i % partitions]!.push({ key: enc.encode(keyOf(i)), value: enc.encode(`value-${i}`) });
  const r = await c.request(0, 9, {
    transactionalId: null, acks: -1, timeoutMs: 10_000,
    topicData: [{ name: topic, partitionData: byPartition.map((recs, index) => ({ index, records: buildBatch(recs) })).filter((_, i) => byPartition[i]!.length) }],
  });
  const bad = r.responses[0].partitionResponses.find((p: { errorCode: number }) => p.errorCode !== 0);
  if (bad) throw new Error(`produce to ${topic}-${bad.index} failed with error ${bad.errorCode}`);
}

/** Checks every record line against the model; returns how many distinct records and how many extra deliveries. */
export function checkRecords(members: Member[], partitions: number, count: number): { distinct: number; duplicates: number } {
  const seen = new Set<number>();
  let total = 0;
  for (const m of members) {
    for (const r of m.records) {
      const i = r.o * partitions + r.p;
      if (r.p < 0 || r.p >= partitions || i >= count || r.key !== keyOf(i)) {
        throw new Error(`${m.name} processed ${r.p}@${r.o} with key ${r.key}: expected ${i < count ? keyOf(i) : "no record"} there`);
      }
      seen.add(i);
      total++;
    }
  }
  return { distinct: seen.size, duplicates: total - seen.size };
}

/** Offset ranges no member processed, per partition ("p1 1667-1749"), for failure messages. */
export function missing(members: Member[], partitions: number, count: number): string {
  const seen = new Set(members.flatMap((m) => m.records.map((r) => r.o * partitions + r.p)));
  const gaps: string[] = [];
  for (let p = 0; p < partitions; p++) {
    let from = -1;
    const end = Math.ceil((count - p) / partitions);
    for (let o = 0; o <= end; o++) {
      const absent = o < end && !seen.has(o * partitions + p);
      if (absent && from < 0) from = o;
      if (!absent && from >= 0) {
        gaps.push(`p${p} ${from}-${o - 1}`);
        from = -1;
      }
    }
  }
  return gaps.join(", ") || "none";
}

export interface ShareWorkOptions {
  port: number;
  topic: string;
  group: string;
  /** Starts member number n (0..3) of the group. */
  start: (n: number) => Member;
  label: string;
  records?: number;
  partitions?: number;
  /** At most this many records may be delivered twice (only partitions that moved can repeat a few). */
  maxDuplicates?: number;
}

/**
 * The scenario of the issue: three members over six partitions; records arrive in steps of 1,000; after the first
 * third one member leaves (SIGTERM: a clean close) and the other two take over its partitions; midway a fourth is
 * started, and the last third is produced once it has joined. Every record must be processed (checked by key and offset), duplicates stay under the bound, and
 * every member processed some. Returns the members (all stopped) and the rebalances seen.
 */
export async function shareWork(o: ShareWorkOptions): Promise<{ members: Member[]; rebalances: string; duplicates: number; protocols: string[] }> {
  const N = o.records ?? 30_000;
  const P = o.partitions ?? 6;
  await createTopic(o.port, o.topic, P);
  const client = await RawClient.connect(o.port); // produces and describes
  const watch = watchGroup(o.port, o.group);
  const members: Member[] = [];
  const t0 = performance.now();
  try {
    for (const n of [0, 1, 2]) members.push(o.start(n));
    const stableWith = (k: number) => async () => {
      const d = await describeGroup(client, o.group);
      return d.state === "Stable" && d.members.length === k;
    };
    await waitFor(stableWith(3), `${o.label}: three members in a Stable group`, 90_000);
    process.stderr.write(`[groups] ${o.label}: three members started and Stable in ${Math.round(performance.now() - t0)} ms\n`);
    const step = 1000;
    const produceSteps = async (from: number, to: number) => {
      for (let i = from; i < to; i += step) {
        await produceRange(client, o.topic, P, i, Math.min(i + step, to));
        await Bun.sleep(100);
      }
    };
    const sixth = Math.floor(N / 6 / step) * step;
    await produceSteps(0, 2 * sixth);
    const leaver = members[1]!;
    const code = await leaver.stop();
    if (code !== 0) throw new Error(`${o.label}: the leaving member exited ${code}\n${tail(leaver)}`);
    await waitFor(stableWith(2), `${o.label}: a Stable group of two after the leave`, 90_000);
    await produceSteps(2 * sixth, 3 * sixth);
    members.push(o.start(3));
    await produceSteps(3 * sixth, 4 * sixth);
    await waitFor(stableWith(3), `${o.label}: the fourth member in a Stable group of three`, 90_000);
    await produceSteps(4 * sixth, N);
    const distinct = () => new Set(members.flatMap((m) => m.records.map((r) => r.o * P + r.p))).size;
    await waitFor(() => distinct() >= N, `${o.label}: all ${N} records processed`, 120_000).catch((e) => {
      throw new Error(`${(e as Error).message} (have ${distinct()}; missing ${missing(members, P, N)})\n${members.map((m) => tail(m)).join("\n")}`);
    });
  } finally {
    await watch.stop();
    client.close();
    await Promise.all(members.map((m) => m.stop()));
  }
  const { distinct, duplicates } = checkRecords(members, P, N);
  const counts = members.map((m) => `${m.name}=${m.records.length}`).join(" ");
  const protocols = [...watch.protocols];
  process.stderr.write(`[groups] ${o.label}: ${counts}; duplicates ${duplicates}; rebalances ${watch.summary()}; protocol ${protocols}\n`);
  expect(distinct).toBe(N);
  expect(duplicates).toBeLessThanOrEqual(o.maxDuplicates ?? 1500);
  for (const m of members) if (m.records.length === 0) throw new Error(`${o.label}: ${m.name} processed no records: the work was not shared\n${tail(m)}`);
  return { members, rebalances: watch.summary(), duplicates, protocols };
}
