// DeleteTopics: v0-6, by name (v0-5 names, v6 name or id). The topic is gone once the deletion record is durable:
// its data stops being served at once and its WAL entries are skipped from then on (and on replay).
import * as codec from "../protocol/messages/delete-topics.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { ZERO_UUID } from "../protocol/codec.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DeleteTopicsRequest, codec.DeleteTopicsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 6,
  standby(req, ctx) {
    const wanted = ctx.apiVersion >= 6 ? (req.topics ?? []) : (req.topicNames ?? []).map((name) => ({ name, topicId: ZERO_UUID }));
    return { throttleTimeMs: 0, responses: wanted.map((w) => ({ name: w.name ?? null, topicId: w.topicId ?? ZERO_UUID, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: "this node is the standby; the primary deletes topics" })) };
  },
  async handle(req, ctx) {
    const { catalog, logger } = ctx.broker;
    const wanted = ctx.apiVersion >= 6 ? (req.topics ?? []) : (req.topicNames ?? []).map((name) => ({ name, topicId: ZERO_UUID }));
    const responses = await Promise.all(
      wanted.map(async (w): Promise<codec.DeletableTopicResult> => {
        const byId = w.topicId !== undefined && w.topicId !== ZERO_UUID;
        const answer = (errorCode: number, errorMessage: string | null = null, name = w.name ?? null, topicId = w.topicId ?? ZERO_UUID) => ({ name, topicId, errorCode, errorMessage });
        if (byId && w.name) return answer(ErrorCode.INVALID_REQUEST, "Give a topic name or a topic id, not both.");
        const t = byId ? catalog.topicById(w.topicId!) : catalog.topic(w.name ?? "");
        if (!t) return byId ? answer(ErrorCode.UNKNOWN_TOPIC_ID, "This server does not host this topic ID.") : answer(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "This server does not host this topic-partition.");
        try {
          await catalog.deleteTopic(t);
        } catch (e) {
          return answer(ErrorCode.KAFKA_STORAGE_ERROR, (e as Error).message, t.name, t.id);
        }
        logger.info(`deleted topic ${t.name} for ${ctx.remote}`);
        return answer(0, null, t.name, t.id);
      }),
    );
    return { throttleTimeMs: 0, responses };
  },
});
