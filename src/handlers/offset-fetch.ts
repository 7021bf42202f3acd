// OffsetFetch: v0-9. v0-7 one group, v8+ several; null topics (v2+) means every committed partition. A partition
// without a commit answers offset -1. requireStable (v7+) has nothing to wait for until transactions exist.
import { ErrorCode } from "../protocol/errors.ts";
import * as codec from "../protocol/messages/offset-fetch.ts";
import type { OffsetStore } from "../groups/offsets.ts";
import { defineHandler } from "./handler.ts";

interface Wanted {
  name: string;
  partitionIndexes: number[];
}

function fetchGroup(offsets: OffsetStore, groupId: string, topics: Wanted[] | null) {
  const list: Wanted[] = topics ?? [...offsets.all(groupId)].map(([name, parts]) => ({ name, partitionIndexes: [...parts.keys()].sort((a, b) => a - b) }));
  return list.map((t) => ({
    name: t.name,
    partitions: t.partitionIndexes.map((p) => {
      const c = offsets.get(groupId, t.name, p);
      return { partitionIndex: p, committedOffset: BigInt(c?.offset ?? -1), committedLeaderEpoch: c?.leaderEpoch ?? -1, metadata: c?.metadata ?? "", errorCode: 0 };
    }),
  }));
}

export default defineHandler<codec.OffsetFetchRequest, codec.OffsetFetchResponse>({
  codec,
  minVersion: 0,
  maxVersion: 9,
  standby(req, ctx) {
    const errorCode = ErrorCode.NOT_COORDINATOR;
    if (ctx.apiVersion >= 8) return { throttleTimeMs: 0, groups: (req.groups ?? []).map((g) => ({ groupId: g.groupId ?? "", topics: [], errorCode })) };
    // v0-1 have no top-level error code: every partition asked for carries it.
    const topics = (req.topics ?? []).map((t) => ({ name: t.name ?? "", partitions: (t.partitionIndexes ?? []).map((p) => ({ partitionIndex: p, committedOffset: -1n, committedLeaderEpoch: -1, metadata: "", errorCode })) }));
    return { throttleTimeMs: 0, errorCode, topics };
  },
  handle(req, ctx) {
    const { offsets } = ctx.broker;
    const norm = (ts: { name?: string; partitionIndexes?: number[] }[] | null | undefined): Wanted[] | null =>
      ts == null ? null : ts.map((t) => ({ name: t.name ?? "", partitionIndexes: t.partitionIndexes ?? [] }));
    if (ctx.apiVersion >= 8) {
      const groups = (req.groups ?? []).map((g) => ({ groupId: g.groupId ?? "", topics: fetchGroup(offsets, g.groupId ?? "", norm(g.topics)), errorCode: 0 }));
      return { throttleTimeMs: 0, groups };
    }
    return { throttleTimeMs: 0, errorCode: 0, topics: fetchGroup(offsets, req.groupId ?? "", norm(req.topics)) };
  },
});
