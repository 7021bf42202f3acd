// Heartbeat: v0-4 (groups/heartbeat.ts). v3 static membership.
import { ErrorCode } from "../protocol/errors.ts";
import * as codec from "../protocol/messages/heartbeat.ts";
import { heartbeat } from "../groups/heartbeat.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.HeartbeatRequest, codec.HeartbeatResponse>({
  codec,
  minVersion: 0,
  maxVersion: 4,
  standby() {
    return { throttleTimeMs: 0, errorCode: ErrorCode.NOT_COORDINATOR };
  },
  handle(req, ctx) {
    return { throttleTimeMs: 0, errorCode: heartbeat(ctx.broker.groups, req.groupId, req.generationId, req.memberId, req.groupInstanceId ?? null) };
  },
});
