// LeaveGroup: members leave by member id, static members by instance id (v3+ batches several). A leaving member
// triggers a rebalance of the others.
import { ErrorCode } from "../protocol/errors.ts";
import type { GroupCoordinator } from "./coordinator.ts";

export interface Leaving {
  memberId: string;
  groupInstanceId: string | null;
}

/** Returns a top-level error (0 when the group was found) and one error per leaving member. */
export function leaveGroup(co: GroupCoordinator, groupId: string, leaving: Leaving[]): { errorCode: number; members: (Leaving & { errorCode: number })[] } {
  if (groupId === "") return { errorCode: ErrorCode.INVALID_GROUP_ID, members: [] };
  const g = co.group(groupId);
  if (!g) return { errorCode: 0, members: leaving.map((l) => ({ ...l, errorCode: ErrorCode.UNKNOWN_MEMBER_ID })) };
  if (g.is("Dead")) return { errorCode: ErrorCode.COORDINATOR_NOT_AVAILABLE, members: [] };
  const members = leaving.map((l) => {
    let memberId = l.memberId;
    if (l.groupInstanceId !== null) {
      const current = g.staticMembers.get(l.groupInstanceId);
      if (current === undefined) return { ...l, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
      if (memberId !== "" && memberId !== current) return { ...l, errorCode: ErrorCode.FENCED_INSTANCE_ID };
      memberId = current;
    }
    const pending = g.pendingMembers.get(memberId);
    if (pending !== undefined) {
      clearTimeout(pending);
      g.pendingMembers.delete(memberId);
      co.maybeCompleteJoin(g);
      return { ...l, errorCode: 0 };
    }
    const m = g.members.get(memberId);
    if (!m) return { ...l, errorCode: ErrorCode.UNKNOWN_MEMBER_ID };
    co.logger.info(`group ${groupId}: member ${memberId} left`);
    co.removeMember(g, m, "left the group");
    return { ...l, errorCode: 0 };
  });
  return { errorCode: 0, members };
}
