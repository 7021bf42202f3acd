// ListOffsets: v1-10. Special timestamps: -1 latest (high watermark; the same for read_committed until
// transactions exist), -2 earliest (log start), -3 max timestamp (v7+), -4 earliest local (v8+: the first offset on
// this node's disk; below it only S3 has the data), -5 latest tiered (v9+, KIP-1005: the last offset in S3, -1 with
// no S3 tier or nothing flushed yet). v10 adds a timeout for remote lookups (S3 lookups are awaited either way).
// A timestamp >= 0 finds the first record whose timestamp is at or after it (looking inside the batch).
// Not found: offset -1, timestamp -1, as Kafka answers. Lookups that reach into S3 are awaited; an S3 failure
// answers KAFKA_STORAGE_ERROR for that partition, a stored batch that cannot be read CORRUPT_MESSAGE. A partition
// listed more than once is answered INVALID_REQUEST in every place it appears, and not looked up (Kafka's
// duplicatePartitions).
import * as codec from "../protocol/messages/list-offsets.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { ColdReadError, LEADER_EPOCH, type OffsetAndTimestamp } from "../log/log.ts";
import { CorruptBatchError } from "../protocol/records.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.ListOffsetsRequest, codec.ListOffsetsResponse>({
  codec,
  minVersion: 1,
  maxVersion: 10,
  standby(req) {
    const topics = req.topics.map((rt) => ({
      name: rt.name,
      partitions: rt.partitions.map((rp) => ({ partitionIndex: rp.partitionIndex, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, timestamp: -1n, offset: -1n, leaderEpoch: -1 })),
    }));
    return { throttleTimeMs: 0, topics };
  },
  async handle(req, ctx) {
    const { log } = ctx.broker;
    const v = ctx.apiVersion;
    const found = async (lookup: () => OffsetAndTimestamp | null | Promise<OffsetAndTimestamp | null>, answer: (code: number, offset?: number, ts?: number) => codec.ListOffsetsPartitionResponse) => {
      try {
        const r = await lookup();
        return r ? answer(0, r.offset, r.timestamp) : answer(0);
      } catch (e) {
        if (e instanceof CorruptBatchError) return answer(ErrorCode.CORRUPT_MESSAGE); // logged once by the log
        if (!(e instanceof ColdReadError)) throw e;
        ctx.broker.logger.warn(`ListOffsets from S3 failed: ${e.message}`);
        return answer(ErrorCode.KAFKA_STORAGE_ERROR);
      }
    };
    const seen = new Set<string>();
    const duplicates = new Set<string>();
    for (const rt of req.topics) {
      for (const rp of rt.partitions) {
        const key = `${rp.partitionIndex}:${rt.name}`;
        if (seen.has(key)) duplicates.add(key);
        seen.add(key);
      }
    }
    const topics = await Promise.all(req.topics.map(async (rt) => {
      const t = log.topic(rt.name);
      const partitions = await Promise.all(rt.partitions.map(async (rp): Promise<codec.ListOffsetsPartitionResponse> => {
        const p = t?.partitions[rp.partitionIndex];
        const answer = (errorCode: number, offset = -1, timestamp = -1): codec.ListOffsetsPartitionResponse => ({
          partitionIndex: rp.partitionIndex, errorCode, timestamp: BigInt(timestamp), offset: BigInt(offset), leaderEpoch: errorCode ? -1 : LEADER_EPOCH,
        });
        if (duplicates.has(`${rp.partitionIndex}:${rt.name}`)) return answer(ErrorCode.INVALID_REQUEST);
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
            return found(() => log.maxTimestamp(p), answer);
          }
          case -4:
            if (v < 8) return answer(ErrorCode.UNSUPPORTED_VERSION);
            return answer(0, log.localLogStart(p));
          case -5: {
            if (v < 9) return answer(ErrorCode.UNSUPPORTED_VERSION);
            const last = log.lastTieredOffset(p);
            return last < 0 ? { ...answer(0), leaderEpoch: -1 } : answer(0, last);
          }
          case -6: // earliest pending upload: ListOffsets v11, which klite does not serve
            return answer(ErrorCode.UNSUPPORTED_VERSION);
        }
        if (ts < 0) return answer(ErrorCode.INVALID_REQUEST);
        return found(() => log.offsetForTimestamp(p, ts), answer);
      }));
      return { name: rt.name, partitions };
    }));
    return { throttleTimeMs: 0, topics };
  },
});
