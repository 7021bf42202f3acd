// LeaveGroup: v0-5 (groups/leave.ts). v0-2 one member id; v3+ a batch of members by id or instance id, with a
// result per member; v5 a reason (logged only).
import { ErrorCode } from "../protocol/errors.ts";
import * as codec from "../protocol/messages/leave-group.ts";
import { leaveGroup } from "../groups/leave.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.LeaveGroupRequest, codec.LeaveGroupResponse>({
  codec,
  minVersion: 0,
  maxVersion: 5,
  standby() {
    return { throttleTimeMs: 0, errorCode: ErrorCode.NOT_COORDINATOR, members: [] };
  },
  handle(req, ctx) {
    const v = ctx.apiVersion;
    const leaving = v >= 3 ? (req.members ?? []).map((m) => ({ memberId: m.memberId ?? "", groupInstanceId: m.groupInstanceId ?? null })) : [{ memberId: req.memberId ?? "", groupInstanceId: null }];
    const r = leaveGroup(ctx.broker.groups, req.groupId, leaving);
    if (v < 3) return { throttleTimeMs: 0, errorCode: r.errorCode || (r.members[0]?.errorCode ?? 0) };
    return { throttleTimeMs: 0, errorCode: r.errorCode, members: r.members };
  },
});
