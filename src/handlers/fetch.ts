// Fetch: v4-16, consumers only. Stored batches are returned as they are (views, never re-encoded). Long poll:
// the reply waits until minBytes are available, maxWaitMs passes, a partition has an error, or the broker stops
// (which wakes every waiter).
// Limits: partitionMaxBytes per partition and maxBytes per response, except that the first batch of the first
// partition with data is returned whole even when larger (KIP-74), so consumers always make progress.
// Offsets only S3 still holds are fetched from it (ranged GETs); a failing S3 read answers KAFKA_STORAGE_ERROR for
// that partition, which clients retry.
// Fetch sessions (KIP-227) are not kept: every reply is a full one with session id 0, which clients accept.
// Version notes: v4 isolation level/LSO; v5 log start offset; v7 sessions; v11 rack/preferred replica;
// v12 flexible; v13 topic ids instead of names; v15 replica state; v16 node endpoints.
import * as codec from "../protocol/messages/fetch.ts";
import { ErrorCode } from "../protocol/errors.ts";
import type { Partition } from "../log/partition.ts";
import { ColdReadError, LEADER_EPOCH, type ReadOutcome } from "../log/log.ts";
import { defineHandler } from "./handler.ts";

/** Kafka answers an empty record set (length 0), never null: librdkafka refuses a null one as a parse failure. */
const NO_RECORDS = new Uint8Array(0);

interface Wanted {
  p: Partition | null;
  errorCode: number;
  offset: number;
  maxBytes: number;
  out: codec.PartitionData;
  /** The records may be views of WAL memory, valid only until this turn ends. */
  views: boolean;
}

/** Copies the views gathered so far, before an await: WAL memory may be reused once the turn ends. */
function keepViews(wanted: Wanted[]): void {
  for (const w of wanted) {
    if (!w.views) continue;
    w.out.records = (w.out.records as Uint8Array[]).map((b) => b.slice());
    w.views = false;
  }
}

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
    const { log, catalog } = ctx.broker;
    const v = ctx.apiVersion;
    if ((req.sessionId ?? 0) > 0) {
      return { throttleTimeMs: 0, errorCode: ErrorCode.FETCH_SESSION_ID_NOT_FOUND, sessionId: 0, responses: [] };
    }
    const responses: codec.FetchableTopicResponse[] = [];
    const wanted: Wanted[] = [];
    for (const ft of req.topics) {
      const t = v >= 13 ? log.topicById(ft.topicId!) : log.topic(ft.topic ?? "");
      const missing = v >= 13 ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
      const partitions: codec.PartitionData[] = [];
      for (const fp of ft.partitions) {
        const p = t?.partitions[fp.partition] ?? null;
        let errorCode = p ? 0 : missing;
        if (p && (fp.currentLeaderEpoch ?? -1) > LEADER_EPOCH) errorCode = ErrorCode.UNKNOWN_LEADER_EPOCH;
        const out: codec.PartitionData = { partitionIndex: fp.partition, errorCode, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, abortedTransactions: null, preferredReadReplica: -1, records: NO_RECORDS };
        partitions.push(out);
        wanted.push({ p, errorCode, offset: Number(fp.fetchOffset), maxBytes: fp.partitionMaxBytes, out, views: false });
      }
      responses.push({ topic: t?.meta.name ?? ft.topic, topicId: ft.topicId ?? t?.meta.id, partitions });
    }
    void catalog;

    const minBytes = Math.max(1, req.minBytes);
    const deadline = performance.now() + Math.max(0, req.maxWaitMs);
    for (;;) {
      let ready = 0;
      let errors = false;
      for (const w of wanted) {
        if (w.errorCode !== 0 || !w.p || w.p.deleted) {
          errors = true;
          continue;
        }
        if (w.offset < w.p.logStartOffset || w.offset > w.p.highWatermark) errors = true;
        else ready += log.available(w.p, w.offset, minBytes - ready);
      }
      const wait = deadline - performance.now();
      if (errors || ready >= minBytes || wait <= 0 || ctx.broker.stopped) break;
      // Other requests interleave while this fetch waits for a high watermark to move.
      await new Promise<void>((resolve) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const wake = () => {
          clearTimeout(timer);
          for (const w of wanted) w.p?.removeWaiter(wake);
          resolve();
        };
        timer = setTimeout(wake, wait);
        for (const w of wanted) w.p?.addWaiter(wake);
      });
      if (ctx.broker.stopped) break;
    }

    let remaining = v >= 3 ? req.maxBytes ?? 0x7fffffff : 0x7fffffff;
    let minOne = true;
    const readCommitted = req.isolationLevel === 1;
    for (const w of wanted) {
      const p = w.p;
      if (!p || w.errorCode !== 0) continue;
      if (p.deleted) {
        w.out.errorCode = v >= 13 ? ErrorCode.UNKNOWN_TOPIC_ID : ErrorCode.UNKNOWN_TOPIC_OR_PARTITION;
        continue;
      }
      const read = log.read(p, w.offset, Math.min(w.maxBytes, Math.max(0, remaining)), minOne);
      let r: ReadOutcome;
      const cold = read instanceof Promise;
      try {
        if (cold) keepViews(wanted);
        // Only offsets that S3 alone holds await here; the partition's state is read again below, after it.
        r = cold ? await read : read;
      } catch (e) {
        if (!(e instanceof ColdReadError)) throw e;
        ctx.broker.logger.warn(`fetch ${p}@${w.offset} from S3 failed: ${e.message}`);
        w.out.errorCode = ErrorCode.KAFKA_STORAGE_ERROR;
        continue;
      }
      w.out.errorCode = r.code;
      w.out.highWatermark = BigInt(p.highWatermark);
      w.out.lastStableOffset = BigInt(p.highWatermark);
      w.out.logStartOffset = BigInt(p.logStartOffset);
      if (readCommitted) w.out.abortedTransactions = [];
      if (r.bytes > 0) {
        w.out.records = r.records;
        w.views = true; // even after S3: what S3 no longer held was read from the WAL
        remaining -= r.bytes;
        minOne = false;
      }
    }
    return { throttleTimeMs: 0, errorCode: 0, sessionId: 0, responses };
  },
});
