// OffsetForLeaderEpoch: v0-4. The end offset of a leader epoch, which consumers ask for to validate their position
// after a leader change (KIP-320). Every batch is written in epoch LEADER_EPOCH (log/log.ts), which ends at the high
// watermark; a later epoch is unknown (-1, -1). currentLeaderEpoch (v2+) fences as Kafka does: older
// FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.
import * as codec from "../protocol/messages/offset-for-leader-epoch.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { LEADER_EPOCH } from "../log/log.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.OffsetForLeaderEpochRequest, codec.OffsetForLeaderEpochResponse>({
  codec,
  minVersion: 0,
  maxVersion: 4,
  standby(req) {
    const topics = (req.topics ?? []).map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => ({ errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, partition: p.partition, leaderEpoch: -1, endOffset: -1n })) }));
    return { throttleTimeMs: 0, topics };
  },
  handle(req, ctx) {
    const { log } = ctx.broker;
    const topics = req.topics.map((rt) => {
      const t = log.topic(rt.topic);
      const partitions = rt.partitions.map((rp): codec.EpochEndOffset => {
        const answer = (errorCode: number, leaderEpoch = -1, endOffset = -1) => ({ errorCode, partition: rp.partition, leaderEpoch, endOffset: BigInt(endOffset) });
        const p = t?.partitions[rp.partition];
        if (!p) return answer(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        const current = rp.currentLeaderEpoch ?? -1;
        if (current > LEADER_EPOCH) return answer(ErrorCode.UNKNOWN_LEADER_EPOCH);
        if (current !== -1 && current < LEADER_EPOCH) return answer(ErrorCode.FENCED_LEADER_EPOCH);
        const r = log.endOffsetForEpoch(p, rp.leaderEpoch);
        return answer(0, r.leaderEpoch, r.endOffset);
      });
      return { topic: rt.topic, partitions };
    });
    return { throttleTimeMs: 0, topics };
  },
});
