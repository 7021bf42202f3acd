// InitProducerId: v0-5, for idempotent producers: a fresh producer id with epoch 0 each time, as Kafka answers
// when there is no transactional id (also for the KIP-360 epoch-bump form, v3+). Producer-id blocks are kept in the
// metadata log, so ids are never reused across restarts. Transactional ids are refused until transactions exist.
import * as codec from "../protocol/messages/init-producer-id.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler } from "./handler.ts";
import { KafkaConnection } from "../bench/connection.ts";

const FORWARD_TIMEOUT_MS = 5_000;

export default defineHandler<codec.InitProducerIdRequest, codec.InitProducerIdResponse>({
  codec,
  minVersion: 0,
  maxVersion: 5,
  async standby(req, ctx) {
    // Clients send an idempotent producer's InitProducerId to any broker they are connected to, and may know only
    // the standby yet (the bootstrap broker they reached): it asks the primary, as a Kafka broker forwards to its
    // controller. Without a known primary: retriable for the Java client and librdkafka alike ("try again later").
    const later = { throttleTimeMs: 0, errorCode: ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, producerId: -1n, producerEpoch: -1 };
    const primary = ctx.broker.peer;
    if (!primary || req.transactionalId !== null) return later;
    let c: KafkaConnection | null = null;
    try {
      const ask = (async () => {
        c = await KafkaConnection.connect(primary.host, primary.port, "klite-standby");
        return await c.send(codec, ctx.apiVersion, req);
      })();
      return await Promise.race([ask, Bun.sleep(FORWARD_TIMEOUT_MS).then(() => later)]);
    } catch {
      return later;
    } finally {
      (c as KafkaConnection | null)?.close();
    }
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
