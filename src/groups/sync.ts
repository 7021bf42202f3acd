// SyncGroup: followers wait for the leader's assignment; the leader's SyncGroup completes the generation
// (persisted, then every waiting member answered). In a Stable group it returns the member's assignment.
import { ErrorCode } from "../protocol/errors.ts";
import type { GroupCoordinator } from "./coordinator.ts";
import type { Group, SyncResult } from "./group.ts";

export interface SyncRequest {
  groupId: string;
  generationId: number;
  memberId: string;
  groupInstanceId: string | null;
  protocolType: string | null;
  protocolName: string | null;
  /** Copied out of the request. */
  assignments: { memberId: string; assignment: Uint8Array }[];
}

export function syncGroup(co: GroupCoordinator, req: SyncRequest): SyncResult | Promise<SyncResult> {
  const err = (code: number) => co.syncError(code);
  if (req.groupId === "") return err(ErrorCode.INVALID_GROUP_ID);
  const g = co.group(req.groupId);
  if (!g) return err(ErrorCode.UNKNOWN_MEMBER_ID);
  if (g.is("Dead")) return err(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  if (g.isStaticMemberFenced(req.groupInstanceId, req.memberId)) return err(ErrorCode.FENCED_INSTANCE_ID);
  const m = g.members.get(req.memberId);
  if (!m) return err(ErrorCode.UNKNOWN_MEMBER_ID);
  if (req.generationId !== g.generationId) return err(ErrorCode.ILLEGAL_GENERATION);
  if (req.protocolType !== null && req.protocolType !== g.protocolType) return err(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  if (req.protocolName !== null && req.protocolName !== g.protocolName) return err(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  switch (g.state) {
    case "Empty":
      return err(ErrorCode.UNKNOWN_MEMBER_ID);
    case "PreparingRebalance":
      return err(ErrorCode.REBALANCE_IN_PROGRESS);
    case "Stable":
      co.heartbeatReceived(g, m);
      synced(g, m.memberId);
      return { errorCode: 0, protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment };
    case "CompletingRebalance": {
      synced(g, m.memberId);
      const answer = new Promise<SyncResult>((resolve) => {
        const prev = m.awaitingSync;
        m.awaitingSync = prev ? (r) => (prev(r), resolve(r)) : resolve;
      });
      co.heartbeatReceived(g, m);
      if (g.isLeader(m.memberId)) void co.completeSync(g, new Map(req.assignments.map((a) => [a.memberId, a.assignment])));
      return answer;
    }
    default:
      return err(ErrorCode.UNKNOWN_MEMBER_ID);
  }
}

/** The member sent its SyncGroup for this generation: no longer pending; once nobody is, the sync expiry is moot. */
function synced(g: Group, memberId: string): void {
  g.pendingSync.delete(memberId);
  if (g.pendingSync.size === 0 && g.syncTimer) {
    clearTimeout(g.syncTimer);
    g.syncTimer = null;
  }
}
