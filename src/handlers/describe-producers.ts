// DescribeProducers: v0. The idempotent producers each partition keeps state for (Kafka's ProducerStateManager):
// producer id, epoch, last sequence and when it last appended. No transactions yet, so no coordinator epoch and no
// open transaction (-1).
import * as codec from "../protocol/messages/describe-producers.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DescribeProducersRequest, codec.DescribeProducersResponse>({
  codec,
  minVersion: 0,
  maxVersion: 0,
  standby(req) {
    const topics = (req.topics ?? []).map((t) => ({ name: t.name, partitions: t.partitionIndexes.map((partitionIndex) => ({ partitionIndex, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, errorMessage: null, activeProducers: [] })) }));
    return { throttleTimeMs: 0, topics };
  },
  handle(req, ctx) {
    const { log } = ctx.broker;
    const topics = req.topics.map((rt) => {
      const t = log.topic(rt.name);
      const partitions = rt.partitionIndexes.map((partitionIndex): codec.PartitionResponse => {
        if (!t) return { partitionIndex, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: "This server does not host this topic-partition.", activeProducers: [] };
        const p = t.partitions[partitionIndex];
        if (!p) return { partitionIndex, errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, errorMessage: null, activeProducers: [] };
        const activeProducers = [...p.producers.producers].map(([producerId, e]) => ({
          producerId: BigInt(producerId),
          producerEpoch: e.epoch,
          lastSequence: e.batches.at(-1)?.lastSeq ?? -1,
          lastTimestamp: BigInt(e.lastAppend),
          coordinatorEpoch: -1,
          currentTxnStartOffset: -1n,
        }));
        return { partitionIndex, errorCode: 0, errorMessage: null, activeProducers };
      });
      return { name: rt.name, partitions };
    });
    return { throttleTimeMs: 0, topics };
  },
});
