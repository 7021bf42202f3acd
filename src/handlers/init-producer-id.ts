// InitProducerId: v0-5, for idempotent producers: a fresh producer id with epoch 0 each time, as Kafka answers
// when there is no transactional id (also for the KIP-360 epoch-bump form, v3+). Producer-id blocks are kept in the
// metadata log, so ids are never reused across restarts. Transactional ids are refused until transactions exist.
import * as codec from "../protocol/messages/init-producer-id.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.InitProducerIdRequest, codec.InitProducerIdResponse>({
  codec,
  minVersion: 0,
  maxVersion: 5,
  standby() {
    // Retriable for the Java client and librdkafka alike ("try again later"), with no coordinator lookup implied.
    return { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, producerId: -1n, producerEpoch: -1 };
  },
  async handle(req, ctx) {
    const { catalog, logger } = ctx.broker;
    if (req.transactionalId !== null) {
      logger.info(`InitProducerId for transactional id ${req.transactionalId} from ${ctx.remote} refused: transactions are not supported yet`);
      return { throttleTimeMs: 0, errorCode: ErrorCode.UNSUPPORTED_VERSION, producerId: -1n, producerEpoch: -1 };
    }
    try {
      const id = await catalog.allocateProducerId();
      return { throttleTimeMs: 0, errorCode: 0, producerId: BigInt(id), producerEpoch: 0 };
    } catch (e) {
      logger.error(`allocating a producer id failed: ${(e as Error).message}`);
      return { throttleTimeMs: 0, errorCode: ErrorCode.KAFKA_STORAGE_ERROR, producerId: -1n, producerEpoch: -1 };
    }
  },
});
