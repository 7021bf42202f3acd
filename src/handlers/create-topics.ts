// CreateTopics: v2-7. Replication factor -1 or 1 (one broker); partitions from the count, the manual assignment
// (every replica list must be exactly this node) or --default-partitions; configs validated against Kafka's
// topic configs and stored. validateOnly checks everything and creates nothing.
// Bounds: a request adding more than --max-partitions-per-request partitions in all is refused as a whole with
// POLICY_VIOLATION (Kafka's controller: 10000), as is a topic that would take the broker past --max-partitions.
// Version notes: v5 returns partitions, replication factor and configs; v7 topic ids.
import * as codec from "../protocol/messages/create-topics.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { CatalogError, type TopicMeta } from "../meta/catalog.ts";
import { describeResource } from "../meta/configs.ts";
import { defineHandler } from "./handler.ts";

class Refused extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

function partitionCount(t: codec.CreatableTopic, nodeId: number, defaultPartitions: number): number {
  if (t.replicationFactor !== -1 && t.replicationFactor !== 1) {
    throw new Refused(ErrorCode.INVALID_REPLICATION_FACTOR, t.replicationFactor <= 0 ? "Replication factor must be larger than 0, or -1 to use the default." : `Replication factor: ${t.replicationFactor} larger than available brokers: 1.`);
  }
  if (t.assignments.length === 0) return t.numPartitions === -1 ? defaultPartitions : t.numPartitions;
  if (t.numPartitions !== -1 || t.replicationFactor !== -1) {
    throw new Refused(ErrorCode.INVALID_REQUEST, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.");
  }
  const seen = new Set<number>();
  for (const a of t.assignments) {
    if (a.brokerIds.length !== 1 || a.brokerIds[0] !== nodeId) {
      throw new Refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT, `Partition ${a.partitionIndex} must be assigned to broker ${nodeId} only, the only broker in this cluster.`);
    }
    seen.add(a.partitionIndex);
  }
  for (let i = 0; i < t.assignments.length; i++) {
    if (!seen.has(i)) throw new Refused(ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Partitions should be a consecutive 0-based integer sequence.");
  }
  return t.assignments.length;
}

export default defineHandler<codec.CreateTopicsRequest, codec.CreateTopicsResponse>({
  codec,
  minVersion: 2,
  maxVersion: 7,
  standby(req) {
    return { throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, errorCode: ErrorCode.NOT_CONTROLLER, errorMessage: "this node is the standby; the primary creates topics", topicConfigErrorCode: 0, numPartitions: -1, replicationFactor: -1, configs: null })) };
  },
  async handle(req, ctx) {
    const { catalog, config, logger, nodeId } = ctx.broker;
    const counts = new Map<string, number>();
    for (const t of req.topics) counts.set(t.name, (counts.get(t.name) ?? 0) + 1);
    // Kafka's validateTotalNumberOfPartitions: an upper bound of what the request adds, before anything else.
    let adding = 0;
    for (const t of req.topics) adding += t.assignments.length > 0 ? t.assignments.length : t.numPartitions === -1 ? config.defaultPartitions : Math.max(0, t.numPartitions);
    if (adding > config.maxPartitionsPerRequest) {
      const errorMessage = `Excessively large number of partitions per request: ${adding}, at most ${config.maxPartitionsPerRequest} (--max-partitions-per-request).`;
      logger.warn(`CreateTopics from ${ctx.remote} refused: ${errorMessage}`);
      return { throttleTimeMs: 0, topics: req.topics.map((t) => ({ name: t.name, errorCode: ErrorCode.POLICY_VIOLATION, errorMessage, topicConfigErrorCode: 0, numPartitions: -1, replicationFactor: -1, configs: null })) };
    }
    const topics = await Promise.all(
      req.topics.map(async (t): Promise<codec.CreatableTopicResult> => {
        const fail = (errorCode: number, errorMessage: string): codec.CreatableTopicResult => ({
          name: t.name, errorCode, errorMessage, topicConfigErrorCode: 0, numPartitions: -1, replicationFactor: -1, configs: null,
        });
        if (counts.get(t.name)! > 1) return fail(ErrorCode.INVALID_REQUEST, `Create topics request contains multiple entries for topic ${t.name}.`);
        const configs = t.configs.map((c): [string, string | null] => [c.name, c.value]);
        let created: TopicMeta;
        try {
          const partitions = partitionCount(t, nodeId, config.defaultPartitions);
          if (req.validateOnly) {
            catalog.validateNewTopic(t.name, partitions, configs);
            created = { name: t.name, id: "00000000000000000000000000000000", partitions, configs: catalog.topicConfigs(configs as [string, string][]) };
          } else {
            created = await catalog.createTopic(t.name, partitions, configs);
            logger.info(`created topic ${t.name} with ${partitions} partitions for ${ctx.remote}`);
          }
        } catch (e) {
          if (e instanceof Refused || e instanceof CatalogError) return fail(e.code, e.message);
          logger.error(`creating topic ${t.name} failed: ${(e as Error).message}`);
          return fail(ErrorCode.KAFKA_STORAGE_ERROR, `Could not write the topic to the metadata log: ${(e as Error).message}`);
        }
        return {
          name: t.name,
          topicId: created.id,
          errorCode: 0,
          errorMessage: null,
          topicConfigErrorCode: 0,
          numPartitions: created.partitions,
          replicationFactor: 1,
          configs: describeResource(ctx.broker, { kind: "topic", topic: created }, null).map((e) => ({ name: e.name, value: e.value, readOnly: e.readOnly, configSource: e.source, isSensitive: e.isSensitive })),
        };
      }),
    );
    return { throttleTimeMs: 0, topics };
  },
});
