// Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
import { ErrorCode } from "../protocol/errors.ts";
import type { GroupCoordinator } from "./coordinator.ts";

export function heartbeat(co: GroupCoordinator, groupId: string, generationId: number, memberId: string, groupInstanceId: string | null): number {
  if (groupId === "") return ErrorCode.INVALID_GROUP_ID;
  const g = co.group(groupId);
  if (!g) return ErrorCode.UNKNOWN_MEMBER_ID;
  if (g.is("Dead")) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  if (g.isStaticMemberFenced(groupInstanceId, memberId)) return ErrorCode.FENCED_INSTANCE_ID;
  const m = g.members.get(memberId);
  if (!m) return ErrorCode.UNKNOWN_MEMBER_ID;
  if (generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
  switch (g.state) {
    case "Empty":
      return ErrorCode.UNKNOWN_MEMBER_ID;
    case "PreparingRebalance":
      co.heartbeatReceived(g, m);
      return ErrorCode.REBALANCE_IN_PROGRESS;
    default:
      co.heartbeatReceived(g, m);
      return 0;
  }
}
