// CreatePartitions: v0-3. Grows a topic to `count` partitions; assignments, if given, must place every new
// partition on this node. validateOnly checks and changes nothing. A request adding more than
// --max-partitions-per-request partitions in all is refused as a whole with POLICY_VIOLATION (Kafka's controller
// bounds the records of one operation at 10000), as is a topic that would take the broker past --max-partitions.
import * as codec from "../protocol/messages/create-partitions.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { CatalogError } from "../meta/catalog.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.CreatePartitionsRequest, codec.CreatePartitionsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 3,
  standby(req) {
    return { throttleTimeMs: 0, results: req.topics.map((rt) => ({ name: rt.name, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: "this node is the standby; the primary creates partitions" })) };
  },
  async handle(req, ctx) {
    const { catalog, logger, nodeId, config } = ctx.broker;
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    let adding = 0;
    for (const rt of req.topics) adding += Math.max(0, rt.count - (catalog.topic(rt.name)?.partitions ?? rt.count));
    if (adding > config.maxPartitionsPerRequest) {
      const errorMessage = `Unable to perform excessively large batch operation: ${adding} new partitions, at most ${config.maxPartitionsPerRequest} (--max-partitions-per-request).`;
      logger.warn(`CreatePartitions from ${ctx.remote} refused: ${errorMessage}`);
      return { throttleTimeMs: 0, results: req.topics.map((rt) => ({ name: rt.name, errorCode: ErrorCode.POLICY_VIOLATION, errorMessage })) };
    }
    const results = await Promise.all(
      req.topics.map(async (rt): Promise<codec.CreatePartitionsTopicResult> => {
        const answer = (errorCode: number, errorMessage: string | null = null) => ({ name: rt.name, errorCode, errorMessage });
        if (counts.get(rt.name)! > 1) return answer(ErrorCode.INVALID_REQUEST, `Duplicate topic in request: ${rt.name}`);
        const t = catalog.topic(rt.name);
        if (!t) return answer(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `The topic '${rt.name}' does not exist.`);
        if (rt.count <= t.partitions) {
          return answer(ErrorCode.INVALID_PARTITIONS, `Topic currently has ${t.partitions} partitions, which is higher than the requested ${rt.count}.`);
        }
        if (rt.assignments !== null) {
          if (rt.assignments.length !== rt.count - t.partitions) {
            return answer(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Increasing the number of partitions by ${rt.count - t.partitions} but ${rt.assignments.length} assignments provided.`);
          }
          if (rt.assignments.some((a) => a.brokerIds.length !== 1 || a.brokerIds[0] !== nodeId)) {
            return answer(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `New partitions must be assigned to broker ${nodeId} only, the only broker in this cluster.`);
          }
        }
        if (req.validateOnly) {
          try {
            catalog.checkPartitionCap(rt.count - t.partitions);
          } catch (e) {
            if (e instanceof CatalogError) return answer(e.code, e.message);
            throw e;
          }
          return answer(0);
        }
        try {
          await catalog.createPartitions(t, rt.count);
        } catch (e) {
          if (e instanceof CatalogError) return answer(e.code, e.message);
          return answer(ErrorCode.KAFKA_STORAGE_ERROR, (e as Error).message);
        }
        logger.info(`topic ${rt.name} now has ${rt.count} partitions (${ctx.remote})`);
        return answer(0);
      }),
    );
    return { throttleTimeMs: 0, results };
  },
});
