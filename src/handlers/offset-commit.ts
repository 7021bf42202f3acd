// OffsetCommit: v0-9. The committer is checked like Kafka does (simple consumers with generation -1 on an empty
// or unknown group; members with their generation otherwise); each partition must exist and its metadata fit
// 4096 bytes. The reply waits until the offsets are durable in the metadata log.
import * as codec from "../protocol/messages/offset-commit.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { checkCommitter, MAX_METADATA_BYTES, type OffsetToCommit } from "../groups/offsets.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.OffsetCommitRequest, codec.OffsetCommitResponse>({
  codec,
  minVersion: 0,
  maxVersion: 9,
  standby(req) {
    return { throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, partitions: t.partitions.map((p) => ({ partitionIndex: p.partitionIndex, errorCode: ErrorCode.NOT_COORDINATOR })) })) };
  },
  async handle(req, ctx) {
    const { groups, offsets, log, logger } = ctx.broker;
    const generation = ctx.apiVersion >= 1 ? (req.generationIdOrMemberEpoch ?? -1) : -1;
    const check = checkCommitter(groups, req.groupId, generation, req.memberId ?? "", req.groupInstanceId ?? null);
    const toCommit: OffsetToCommit[] = [];
    const topics = req.topics.map((t) => {
      const topic = log.topic(t.name);
      return {
        name: t.name,
        partitions: t.partitions.map((p) => {
          let errorCode: number = check;
          const metadata = p.committedMetadata ?? "";
          if (!errorCode && !topic?.partitions[p.partitionIndex]) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
          else if (!errorCode && Buffer.byteLength(metadata) > MAX_METADATA_BYTES) errorCode = ErrorCode.OFFSET_METADATA_TOO_LARGE;
          if (!errorCode) toCommit.push({ topic: t.name, partition: p.partitionIndex, offset: Number(p.committedOffset), leaderEpoch: p.committedLeaderEpoch ?? -1, metadata });
          return { partitionIndex: p.partitionIndex, errorCode };
        }),
      };
    });
    try {
      // Other requests interleave while the commit is written and fsync'd.
      await offsets.commit(req.groupId, toCommit);
    } catch (e) {
      logger.error(`offset commit for group ${req.groupId} failed: ${(e as Error).message}`);
      for (const t of topics) for (const p of t.partitions) if (!p.errorCode) p.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
    }
    return { throttleTimeMs: 0, topics };
  },
});
