// DeleteRecords: v0-2. Moves each partition's log start offset (-1: to the high watermark); Fetch and ListOffsets
// follow once the record is durable, S3 objects wholly below it go at the next retention check. An offset beyond the
// high watermark gets OFFSET_OUT_OF_RANGE, a topic without cleanup.policy delete POLICY_VIOLATION, as in Kafka.
import * as codec from "../protocol/messages/delete-records.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { MetaLogError } from "../meta/metadata-log.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DeleteRecordsRequest, codec.DeleteRecordsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 2,
  standby(req) {
    const topics = (req.topics ?? []).map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, lowWatermark: -1n, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER })) }));
    return { throttleTimeMs: 0, topics };
  },
  async handle(req, ctx) {
    const { log, logger } = ctx.broker;
    const topics = await Promise.all(req.topics.map(async (rt) => {
      const t = log.topic(rt.name);
      const partitions = await Promise.all(rt.partitions.map(async (rp): Promise<codec.DeleteRecordsPartitionResult> => {
        const answer = (errorCode: number, lowWatermark = -1) => ({ partitionIndex: rp.partitionIndex, lowWatermark: BigInt(lowWatermark), errorCode });
        const p = t?.partitions[rp.partitionIndex];
        if (!p) return answer(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION);
        try {
          const r = await log.deleteRecords(p, Number(rp.offset));
          if (!r.ok) return answer(r.code);
          logger.info(`DeleteRecords from ${ctx.remote}: ${p} now starts at offset ${r.lowWatermark}`);
          return answer(0, r.lowWatermark);
        } catch (e) {
          if (!(e instanceof MetaLogError)) throw e;
          return answer(ErrorCode.KAFKA_STORAGE_ERROR);
        }
      }));
      return { name: rt.name, partitions };
    }));
    return { throttleTimeMs: 0, topics };
  },
});
