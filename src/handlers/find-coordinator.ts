// FindCoordinator: v0-6. This broker coordinates every group and transactional id. v4+ batches keys.
import * as codec from "../protocol/messages/find-coordinator.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { defineHandler } from "./handler.ts";

const GROUP = 0;
const TRANSACTION = 1;

export default defineHandler<codec.FindCoordinatorRequest, codec.FindCoordinatorResponse>({
  codec,
  minVersion: 0,
  maxVersion: 6,
  standby(req, ctx) {
    // Any broker may answer FindCoordinator: a standby names the primary when it knows it (from the lease).
    const p = ctx.broker.peer;
    const errorCode = p ? 0 : ErrorCode.COORDINATOR_NOT_AVAILABLE;
    const errorMessage = p ? null : "this node is the standby and knows no primary yet";
    const at = p ? { nodeId: p.nodeId, host: p.host, port: p.port } : { nodeId: -1, host: "", port: -1 };
    if (ctx.apiVersion >= 4) return { throttleTimeMs: 0, coordinators: (req.coordinatorKeys ?? []).map((key) => ({ key, ...at, errorCode, errorMessage })) };
    return { throttleTimeMs: 0, errorCode, errorMessage, ...at };
  },
  handle(req, ctx) {
    const { nodeId, advertised } = ctx.broker;
    const keyType = req.keyType ?? GROUP;
    const badType = keyType !== GROUP && keyType !== TRANSACTION;
    const errorMessage = badType ? `Unknown coordinator type ${keyType}` : null;
    const errorCode = badType ? ErrorCode.INVALID_REQUEST : 0;
    if (ctx.apiVersion >= 4) {
      const coordinators = (req.coordinatorKeys ?? []).map((key) => ({ key, nodeId: badType ? -1 : nodeId, host: badType ? "" : advertised.host, port: badType ? -1 : advertised.port, errorCode, errorMessage }));
      return { throttleTimeMs: 0, coordinators };
    }
    return { throttleTimeMs: 0, errorCode, errorMessage, nodeId: badType ? -1 : nodeId, host: badType ? "" : advertised.host, port: badType ? -1 : advertised.port };
  },
});
