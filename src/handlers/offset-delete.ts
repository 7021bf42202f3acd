// OffsetDelete: v0. Deletes committed offsets of a group; refused per partition (GROUP_SUBSCRIBED_TO_TOPIC) for
// topics a live consumer group subscribes to, and for the whole request (NON_EMPTY_GROUP) when a live group's
// protocol is not the consumer protocol (its subscriptions cannot be known).
import * as codec from "../protocol/messages/offset-delete.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { subscribedTopics } from "../groups/describe.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.OffsetDeleteRequest, codec.OffsetDeleteResponse>({
  codec,
  minVersion: 0,
  maxVersion: 0,
  standby() {
    return { errorCode: ErrorCode.NOT_COORDINATOR, throttleTimeMs: 0, topics: [] };
  },
  async handle(req, ctx) {
    const { groups, offsets, log } = ctx.broker;
    const fail = (errorCode: number) => ({ errorCode, throttleTimeMs: 0, topics: [] });
    if (req.groupId === "") return fail(ErrorCode.INVALID_GROUP_ID);
    const g = groups.group(req.groupId);
    if (!g || g.is("Dead")) return fail(ErrorCode.GROUP_ID_NOT_FOUND);
    const live = !g.is("Empty");
    if (live && g.protocolType !== "consumer") return fail(ErrorCode.NON_EMPTY_GROUP);
    const subscribed = live ? subscribedTopics(g) : new Set<string>();
    const doomed: { topic: string; partition: number }[] = [];
    const topics = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        let errorCode = 0;
        if (!log.topic(t.name)?.partitions[p.partitionIndex]) errorCode = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        else if (subscribed.has(t.name)) errorCode = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC;
        else doomed.push({ topic: t.name, partition: p.partitionIndex });
        return { partitionIndex: p.partitionIndex, errorCode };
      }),
    }));
    try {
      await offsets.deleteOffsets(req.groupId, doomed.filter((d) => offsets.get(req.groupId, d.topic, d.partition)));
    } catch (e) {
      return fail(ErrorCode.KAFKA_STORAGE_ERROR);
    }
    return { errorCode: 0, throttleTimeMs: 0, topics };
  },
});
