// DescribeGroups: v0-5. State, protocol and members; member metadata and assignments only in a Stable group (as
// Kafka). An unknown group is described as Dead with no error (GROUP_ID_NOT_FOUND arrives with v6).
import { ErrorCode } from "../protocol/errors.ts";
import * as codec from "../protocol/messages/describe-groups.ts";
import { describeGroup } from "../groups/describe.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DescribeGroupsRequest, codec.DescribeGroupsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 5,
  standby(req) {
    return { throttleTimeMs: 0, groups: req.groups.map((groupId) => ({ errorCode: ErrorCode.NOT_COORDINATOR, groupId, groupState: "", protocolType: "", protocolData: "", members: [], authorizedOperations: -2147483648 })) };
  },
  handle(req, ctx) {
    const groups = req.groups.map((id) => describeGroup(ctx.broker.groups, id, req.includeAuthorizedOperations === true));
    return { throttleTimeMs: 0, groups };
  },
});
