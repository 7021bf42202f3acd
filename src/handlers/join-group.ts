// JoinGroup: v0-9 (classic group protocol; the steps are in groups/join.ts). v0 has no rebalance timeout (the
// session timeout stands in); v4+ requires a known member id (MEMBER_ID_REQUIRED round trip); v5 static
// membership; v7 protocol type in the response; v9 skipAssignment for a rejoining static leader (KIP-814).
import { ErrorCode } from "../protocol/errors.ts";
import * as codec from "../protocol/messages/join-group.ts";
import { joinGroup } from "../groups/join.ts";
import { defineHandler } from "./handler.ts";

export default defineHandler<codec.JoinGroupRequest, codec.JoinGroupResponse>({
  codec,
  minVersion: 0,
  maxVersion: 9,
  standby(req, ctx) {
    return { throttleTimeMs: 0, errorCode: ErrorCode.NOT_COORDINATOR, generationId: -1, protocolType: null, protocolName: ctx.apiVersion >= 7 ? null : "", leader: "", skipAssignment: false, memberId: req.memberId, members: [] };
  },
  async handle(req, ctx) {
    const v = ctx.apiVersion;
    const r = await joinGroup(ctx.broker.groups, {
      groupId: req.groupId,
      memberId: req.memberId,
      groupInstanceId: req.groupInstanceId ?? null,
      clientId: ctx.clientId ?? "",
      clientHost: `/${ctx.remote.replace(/:\d+$/, "")}`,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: v >= 1 ? req.rebalanceTimeoutMs! : req.sessionTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols.map((p) => ({ name: p.name, metadata: p.metadata.slice() })),
      requireKnownMemberId: v >= 4,
      supportsSkipAssignment: v >= 9,
    });
    return {
      throttleTimeMs: 0,
      errorCode: r.errorCode,
      generationId: r.generationId,
      protocolType: r.protocolType,
      protocolName: v >= 7 ? r.protocolName : (r.protocolName ?? ""),
      leader: r.leader,
      skipAssignment: r.skipAssignment ?? false,
      memberId: r.memberId,
      members: r.members,
    };
  },
});
