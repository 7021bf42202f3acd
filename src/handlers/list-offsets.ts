// ListOffsets: v1-8. Special timestamps: -1 latest (high watermark; the same for read_committed until
// transactions exist), -2 earliest (log start), -3 max timestamp (v7+), -4 earliest local (v8+, = log start).
// A timestamp >= 0 finds the first record whose timestamp is at or after it (looking inside the batch).
// Not found: offset -1, timestamp -1, as Kafka answers.
import * as codec from "../protocol/messages/list-offsets.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { LEADER_EPOCH } from "../log/log.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.ListOffsetsRequest, codec.ListOffsetsResponse>({
  codec,
  minVersion: 1,
  maxVersion: 8,
  handle(req, ctx) {
    const { log } = ctx.broker;
    const v = ctx.apiVersion;
    const topics = req.topics.map((rt) => {
      const t = log.topic(rt.name);
      const partitions = rt.partitions.map((rp): codec.ListOffsetsPartitionResponse => {
        const p = t?.partitions[rp.partitionIndex];
        const answer = (errorCode: number, offset = -1, timestamp = -1): codec.ListOffsetsPartitionResponse => ({
          partitionIndex: rp.partitionIndex, errorCode, timestamp: BigInt(timestamp), offset: BigInt(offset), leaderEpoch: errorCode ? -1 : LEADER_EPOCH,
        });
        if (!p) return answer(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        if ((rp.currentLeaderEpoch ?? -1) > LEADER_EPOCH) return answer(ErrorCode.UNKNOWN_LEADER_EPOCH);
        const ts = Number(rp.timestamp);
        switch (ts) {
          case -1:
            return answer(0, p.highWatermark);
          case -2:
            return answer(0, p.logStartOffset);
          case -3: {
            if (v < 7) return answer(ErrorCode.UNSUPPORTED_VERSION);
            const r = log.maxTimestamp(p);
            return r ? answer(0, r.offset, r.timestamp) : answer(0);
          }
          case -4:
            if (v < 8) return answer(ErrorCode.UNSUPPORTED_VERSION);
            return answer(0, p.logStartOffset);
        }
        if (ts < 0) return answer(ErrorCode.INVALID_REQUEST);
        const r = log.offsetForTimestamp(p, ts);
        return r ? answer(0, r.offset, r.timestamp) : answer(0);
      });
      return { name: rt.name, partitions };
    });
    return { throttleTimeMs: 0, topics };
  },
});
