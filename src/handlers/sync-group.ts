// SyncGroup: v0-5 (steps in groups/sync.ts). v3 static membership; v5 protocol type/name checked both ways.
import { ErrorCode } from "../protocol/errors.ts";
import * as codec from "../protocol/messages/sync-group.ts";
import { syncGroup } from "../groups/sync.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.SyncGroupRequest, codec.SyncGroupResponse>({
  codec,
  minVersion: 0,
  maxVersion: 5,
  standby() {
    return { throttleTimeMs: 0, errorCode: ErrorCode.NOT_COORDINATOR, protocolType: null, protocolName: null, assignment: new Uint8Array(0) };
  },
  async handle(req, ctx) {
    const r = await syncGroup(ctx.broker.groups, {
      groupId: req.groupId,
      generationId: req.generationId,
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId ?? null,
      protocolType: req.protocolType ?? null,
      protocolName: req.protocolName ?? null,
      assignments: req.assignments.map((a) => ({ memberId: a.memberId, assignment: a.assignment.slice() })),
    });
    return { throttleTimeMs: 0, errorCode: r.errorCode, protocolType: r.protocolType, protocolName: r.protocolName, assignment: r.assignment };
  },
});
