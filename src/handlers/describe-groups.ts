// DescribeGroups: v0-5. State, protocol and members; member metadata and assignments only in a Stable group (as
// Kafka). An unknown group is described as Dead with no error (GROUP_ID_NOT_FOUND arrives with v6).
import * as codec from "../protocol/messages/describe-groups.ts";
import { describeGroup } from "../groups/describe.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.DescribeGroupsRequest, codec.DescribeGroupsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 5,
  handle(req, ctx) {
    const groups = req.groups.map((id) => describeGroup(ctx.broker.groups, id, req.includeAuthorizedOperations === true));
    return { throttleTimeMs: 0, groups };
  },
});
