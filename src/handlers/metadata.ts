// Metadata: v0-12. Every partition is led by this broker (leader epoch 0, replicas = ISR = [this node]). In
// replicated mode the brokers list also names the other node, so clients that lose the primary know where to ask
// next; a standby names the primary as every partition's leader when it knows it (from the lease), and no leader
// (LEADER_NOT_AVAILABLE, clients ask again) when it does not.
// Unknown topics are created when --auto-create-topics is on and the client allows it (v4+ flag), with
// --default-partitions partitions; the reply already lists them (no LEADER_NOT_AVAILABLE round trip).
// A topic asked for more than once is described once (Kafka collects the request's topics into a set), so the
// work and the response stay proportional to the distinct topics asked for.
// Version notes: v1 null topics = all; v2 cluster id; v8-10 authorized operations; v10 topic ids; v12 lookups by id.
import * as codec from "../protocol/messages/metadata.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { ZERO_UUID } from "../protocol/codec.ts";
import { CatalogError, topicNameProblem, type TopicMeta } from "../meta/catalog.ts";
import { defineHandler, type RequestContext } from "./handler.ts";

const NO_OPS = -2147483648;
// Kafka AclOperation codes: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11.
export const TOPIC_OPS = [3, 4, 5, 6, 7, 8, 10, 11].reduce((a, op) => a | (1 << op), 0);
export const CLUSTER_OPS = [4, 5, 7, 8, 9, 10, 11, 12].reduce((a, op) => a | (1 << op), 0);

function describe(t: TopicMeta, ctx: RequestContext, withOps: boolean): codec.MetadataResponseTopic {
  const node = ctx.broker.nodeId;
  const partitions: codec.MetadataResponsePartition[] = [];
  for (let i = 0; i < t.partitions; i++) {
    partitions.push({ errorCode: 0, partitionIndex: i, leaderId: node, leaderEpoch: 0, replicaNodes: [node], isrNodes: [node], offlineReplicas: [] });
  }
  return { errorCode: 0, name: t.name, topicId: t.id, isInternal: false, partitions, topicAuthorizedOperations: withOps ? TOPIC_OPS : NO_OPS };
}

/**
 * This broker, and the other node of a replicated pair. With one node id for both (a Kubernetes Service in front), a
 * standby names only the primary, so that id always leads to it.
 */
function brokers(ctx: RequestContext): codec.MetadataResponseBroker[] {
  const b = ctx.broker;
  const self = { nodeId: b.nodeId, host: b.advertised.host, port: b.advertised.port, rack: null };
  if (!b.peer) return [self];
  if (b.peer.nodeId !== b.nodeId) return [self, { ...b.peer, rack: null }];
  return b.role === "standby" ? [{ ...b.peer, rack: null }] : [self];
}

/**
 * A topic as a standby describes it: led by the primary when the standby knows it (from the lease), so clients go
 * straight there (librdkafka connects only to brokers it needs: told "no leader" by the one bootstrap broker it
 * reached, it would never find the primary); without a known primary, every partition without a leader.
 */
function fromStandby(t: TopicMeta, ctx: RequestContext, withOps: boolean): codec.MetadataResponseTopic {
  const primary = ctx.broker.peer;
  const partitions: codec.MetadataResponsePartition[] = [];
  for (let i = 0; i < t.partitions; i++) {
    partitions.push(
      primary
        ? { errorCode: 0, partitionIndex: i, leaderId: primary.nodeId, leaderEpoch: 0, replicaNodes: [primary.nodeId], isrNodes: [primary.nodeId], offlineReplicas: [] }
        : { errorCode: ErrorCode.LEADER_NOT_AVAILABLE, partitionIndex: i, leaderId: -1, leaderEpoch: -1, replicaNodes: [], isrNodes: [], offlineReplicas: [] },
    );
  }
  return { errorCode: 0, name: t.name, topicId: t.id, isInternal: false, partitions, topicAuthorizedOperations: withOps ? TOPIC_OPS : NO_OPS };
}

const failed = (errorCode: number, name: string | null, topicId = ZERO_UUID): codec.MetadataResponseTopic => ({
  errorCode, name, topicId, isInternal: false, partitions: [], topicAuthorizedOperations: NO_OPS,
});

export default defineHandler<codec.MetadataRequest, codec.MetadataResponse>({
  codec,
  minVersion: 0,
  maxVersion: 12,
  standby(req, ctx) {
    const { catalog } = ctx.broker;
    const withOps = req.includeTopicAuthorizedOperations === true;
    const all = req.topics === null || (ctx.apiVersion === 0 && req.topics.length === 0);
    const topics = all
      ? [...catalog.all()].map((t) => fromStandby(t, ctx, withOps))
      : req.topics!.map((rt) => {
          const t = rt.name != null ? catalog.topic(rt.name) : rt.topicId ? catalog.topicById(rt.topicId) : undefined;
          // Unknown here may be known (or auto-created) on the primary: "not available yet", not "unknown".
          return t ? fromStandby(t, ctx, withOps) : failed(ErrorCode.LEADER_NOT_AVAILABLE, rt.name ?? null, rt.topicId ?? ZERO_UUID);
        });
    return { throttleTimeMs: 0, brokers: brokers(ctx), clusterId: ctx.broker.clusterId, controllerId: ctx.broker.peer?.nodeId ?? -1, topics, clusterAuthorizedOperations: req.includeClusterAuthorizedOperations ? CLUSTER_OPS : NO_OPS };
  },
  async handle(req, ctx) {
    const { catalog, config, logger } = ctx.broker;
    const v = ctx.apiVersion;
    const withOps = req.includeTopicAuthorizedOperations === true;
    const topics: codec.MetadataResponseTopic[] = [];
    const all = req.topics === null || (v === 0 && req.topics.length === 0);
    if (all) {
      for (const t of catalog.all()) topics.push(describe(t, ctx, withOps));
    } else {
      const autoCreate = config.autoCreateTopics && (v < 4 || req.allowAutoTopicCreation !== false);
      const seen = new Set<string>();
      const distinct = req.topics!.filter((rt) => {
        const key = rt.name === null || rt.name === undefined ? `id:${rt.topicId}` : `name:${rt.name}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      const results = await Promise.all(
        distinct.map(async (rt): Promise<codec.MetadataResponseTopic> => {
          if (rt.name === null || rt.name === undefined) {
            const t = rt.topicId ? catalog.topicById(rt.topicId) : undefined;
            return t ? describe(t, ctx, withOps) : failed(ErrorCode.UNKNOWN_TOPIC_ID, null, rt.topicId);
          }
          const name = rt.name;
          const t = catalog.topic(name);
          if (t) return describe(t, ctx, withOps);
          if (topicNameProblem(name)) return failed(ErrorCode.INVALID_TOPIC_EXCEPTION, name);
          if (!autoCreate) return failed(ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, name);
          try {
            const created = await catalog.ensureTopic(name, config.defaultPartitions);
            logger.info(`auto-created topic ${name} with ${created.partitions} partitions for ${ctx.remote}`);
            return describe(created, ctx, withOps);
          } catch (e) {
            if (e instanceof CatalogError) return failed(e.code, name);
            logger.error(`auto-creating topic ${name} failed: ${(e as Error).message}`);
            return failed(ErrorCode.LEADER_NOT_AVAILABLE, name);
          }
        }),
      );
      topics.push(...results);
    }
    return {
      throttleTimeMs: 0,
      brokers: brokers(ctx),
      clusterId: ctx.broker.clusterId,
      controllerId: ctx.broker.nodeId,
      topics,
      clusterAuthorizedOperations: req.includeClusterAuthorizedOperations ? CLUSTER_OPS : NO_OPS,
    };
  },
});
