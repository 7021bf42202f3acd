// ListGroups: v0-5. Every group this coordinator knows, including empty ones that only hold offsets.
// v4 filters by state (case-insensitive); v5 by type — all of klite's groups are "classic".
import * as codec from "../protocol/messages/list-groups.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.ListGroupsRequest, codec.ListGroupsResponse>({
  codec,
  minVersion: 0,
  maxVersion: 5,
  standby() {
    return { throttleTimeMs: 0, errorCode: 0, groups: [] }; // a Kafka broker coordinating no group answers the same
  },
  handle(req, ctx) {
    const types = (req.typesFilter ?? []).map((t) => t.toLowerCase());
    if (types.length && !types.includes("classic")) return { throttleTimeMs: 0, errorCode: 0, groups: [] };
    const groups = ctx.broker.groups.list(req.statesFilter ?? null).map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? "", groupState: g.state, groupType: "classic" }));
    return { throttleTimeMs: 0, errorCode: 0, groups };
  },
});
