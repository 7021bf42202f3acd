// Fetch: v4-16, consumers only. The log does the work (log/read.ts): the long poll until minBytes or maxWaitMs, the
// byte limits with KIP-74's "at least one batch", reads from memory, the WAL or S3 into the response's read pages,
// which are sent as they are (never re-encoded, never copied again) and released once the socket has taken them.
// Limits: the broker caps the response and each partition at --fetch-max-bytes (Kafka's broker fetch.max.bytes),
// whatever the client asks for. A partition listed more than once is answered once, with the last listing's offset
// and limit at the place of the first (Kafka collects the request into an ordered map).
// Fetch sessions (KIP-227) are not kept: every reply is a full one with session id 0, which clients accept.
// Version notes: v4 isolation level/LSO; v5 log start offset; v7 sessions; v11 rack/preferred replica;
// v12 flexible; v13 topic ids instead of names; v15 replica state; v16 node endpoints.
import * as codec from "../protocol/messages/fetch.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { LEADER_EPOCH } from "../log/log.ts";
import type { FetchPartition } from "../log/read.ts";
import { defineHandler } from "./handler.ts";

/** Kafka answers an empty record set (length 0), never null: librdkafka refuses a null one as a parse failure. */
const NO_RECORDS = new Uint8Array(0);

export default defineHandler<codec.FetchRequest, codec.FetchResponse>({
  codec,
  minVersion: 4,
  maxVersion: 16,
  standby(req) {
    const responses = req.topics.map((ft) => ({
      topic: ft.topic,
      topicId: ft.topicId,
      partitions: ft.partitions.map((fp): codec.PartitionData => ({ partitionIndex: fp.partition, errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, abortedTransactions: null, preferredReadReplica: -1, records: NO_RECORDS })),
    }));
    return { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses };
  },
  async handle(req, ctx) {
    const { log, config } = ctx.broker;
    const v = ctx.apiVersion;
    if ((req.sessionId ?? 0) > 0) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND, sessionId: 0, responses: [] };
    }
    const cap = config.fetchMaxBytes;
    const missing = v >= 13 ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
    // Topic (by id from v13) → partition index → what to read; insertion order is the response's order.
    const topics = new Map<string, { ft: codec.FetchTopic; parts: Map<number, FetchPartition> }>();
    for (const ft of req.topics) {
      const key = v >= 13 ? ft.topicId! : ft.topic ?? "";
      let entry = topics.get(key);
      if (!entry) topics.set(key, (entry = { ft, parts: new Map() }));
      const t = v >= 13 ? log.topicById(ft.topicId!) : log.topic(ft.topic ?? "");
      for (const fp of ft.partitions) {
        const p = t?.partitions[fp.partition] ?? null;
        let errorCode = p ? 0 : missing;
        if (p && (fp.currentLeaderEpoch ?? -1) > LEADER_EPOCH) errorCode = ErrorCode.UNKNOWN_LEADER_EPOCH;
        entry.parts.set(fp.partition, { p, offset: Number(fp.fetchOffset), maxBytes: Math.max(0, Math.min(fp.partitionMaxBytes, cap)), errorCode });
      }
    }
    const wanted = [...topics.values()].flatMap((t) => [...t.parts.values()]);
    const maxBytes = Math.max(0, Math.min(v >= 3 ? req.maxBytes ?? cap : cap, cap));
    // Other requests interleave while the log waits for data (long poll) or reads from S3.
    const read = await log.fetch({ partitions: wanted, minBytes: req.minBytes, maxWaitMs: req.maxWaitMs, maxBytes }, ctx.pages());

    const readCommitted = req.isolationLevel === 1;
    let i = 0;
    const responses: codec.FetchableTopicResponse[] = [];
    for (const { ft, parts } of topics.values()) {
      const t = v >= 13 ? log.topicById(ft.topicId!) : log.topic(ft.topic ?? "");
      const partitions: codec.PartitionData[] = [];
      for (const index of parts.keys()) {
        const r = read[i++]!;
        const errorCode = r.errorCode === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION ? missing : r.errorCode;
        partitions.push({
          partitionIndex: index,
          errorCode,
          highWatermark: BigInt(r.highWatermark),
          lastStableOffset: BigInt(r.lastStableOffset),
          logStartOffset: BigInt(r.logStartOffset),
          abortedTransactions: readCommitted && !errorCode ? [] : null,
          preferredReadReplica: -1,
          records: r.bytes > 0 ? r.records : NO_RECORDS,
        });
      }
      responses.push({ topic: t?.meta.name ?? ft.topic, topicId: ft.topicId ?? t?.meta.id, partitions });
    }
    return { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses };
  },
});
