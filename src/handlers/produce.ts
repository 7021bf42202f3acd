// Produce: v0-11, magic-2 batches only. v0-2 are served (as Kafka 3.x does) although Kafka 4 dropped them, because
// librdkafka before 2.8 (Debian's kcat and confluent-kafka among them) checks for Produce v0 before it compresses
// with gzip, snappy or lz4 and silently sends uncompressed batches otherwise (confluentinc/librdkafka#4956); those
// clients still send v3+ with magic 2. A magic 0/1 message set is refused with UNSUPPORTED_FOR_MESSAGE_FORMAT.
// Each partition's batch is validated
// (CRC, one batch, magic 2, then every record as Kafka's LogValidator does: Kafka's error codes, with the refused
// records listed from v8) and appended in arrival order; the reply waits for the fsync
// that covers every batch of the request (acks 1 and -1 alike, as klite's durability promise). acks=0 gets no reply.
// A partition listed more than once is appended once, with the last batch given for it, and answered once (Kafka
// collects the request into a map by partition).
// Version notes: v7 allows zstd; v8 adds record errors and an error message; v9 flexible; v10 leader hints (unused).
import * as codec from "../protocol/messages/produce.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { checkProducedBatch } from "../protocol/records.ts";
import { defineHandler } from "./handler.ts";

type PartitionResponse = codec.PartitionProduceResponse;

function error(index: number, errorCode: number, errorMessage: string | null = null): PartitionResponse {
  return { index, errorCode, baseOffset: -1n, logAppendTimeMs: -1n, logStartOffset: -1n, recordErrors: [], errorMessage };
}

export default defineHandler<codec.ProduceRequest, codec.ProduceResponse>({
  codec,
  minVersion: 0,
  maxVersion: 11,
  standby(req) {
    if (req.acks === 0) return null;
    const why = "this node is the standby; the primary serves produce";
    return { responses: req.topicData.map((td) => ({ name: td.name, partitionResponses: td.partitionData.map((pd) => error(pd.index, ErrorCode.NOT_LEADER_OR_FOLLOWER, why)) })), throttleTimeMs: 0 };
  },
  async handle(req, ctx) {
    const { log, logger } = ctx.broker;
    const acks = req.acks;
    const now = Date.now();
    const responses: codec.TopicProduceResponse[] = [];
    const waits: { resp: PartitionResponse; durable: Promise<void> }[] = [];
    const byTopic = new Map<string, Map<number, codec.PartitionProduceData>>();
    for (const td of req.topicData) {
      let parts = byTopic.get(td.name);
      if (!parts) byTopic.set(td.name, (parts = new Map()));
      for (const pd of td.partitionData) parts.set(pd.index, pd);
    }
    for (const [name, parts] of byTopic) {
      const t = log.topic(name);
      const partitionResponses: PartitionResponse[] = [];
      for (const pd of parts.values()) {
        if (acks !== 0 && acks !== 1 && acks !== -1) {
          partitionResponses.push(error(pd.index, ErrorCode.INVALID_REQUIRED_ACKS, `acks must be 0, 1 or -1, not ${acks}`));
          continue;
        }
        const p = t?.partitions[pd.index];
        if (!p) {
          partitionResponses.push(error(pd.index, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, `This server does not host ${name}-${pd.index}.`));
          continue;
        }
        const records = pd.records as Uint8Array | null; // decoded records are always one view
        const check = checkProducedBatch(records, ctx.apiVersion);
        if (!check.ok) {
          logger.debug(`produce to ${p} from ${ctx.remote} refused: ${check.message}`);
          partitionResponses.push(error(pd.index, check.code, check.message));
          continue;
        }
        const out = log.append(p, records!, check.header, acks, now);
        if (!out.ok) {
          logger.debug(`produce to ${p} from ${ctx.remote} refused: ${out.message}`);
          const resp = error(pd.index, out.code, out.message);
          if (out.recordErrors) resp.recordErrors = out.recordErrors.map((e) => ({ batchIndex: e.batchIndex, batchIndexErrorMessage: e.message }));
          partitionResponses.push(resp);
          continue;
        }
        const resp: PartitionResponse = { index: pd.index, errorCode: 0, baseOffset: BigInt(out.baseOffset), logAppendTimeMs: BigInt(out.logAppendTime), logStartOffset: BigInt(p.logStartOffset), recordErrors: [], errorMessage: null };
        partitionResponses.push(resp);
        waits.push({ resp, durable: out.durable });
      }
      responses.push({ name, partitionResponses });
    }
    if (acks === 0) return null;
    // Other requests interleave here while the WAL group holding these batches is written and fsync'd.
    await Promise.all(
      waits.map((w) =>
        w.durable.catch((e: Error) => {
          Object.assign(w.resp, error(w.resp.index, ErrorCode.KAFKA_STORAGE_ERROR, e.message));
        }),
      ),
    );
    return { responses, throttleTimeMs: 0 };
  },
});
