// JoinGroup, step by step as Apache Kafka's GroupCoordinator does it:
// - new dynamic members (v4+) first get MEMBER_ID_REQUIRED with an id to rejoin with (KIP-394);
// - a new static member (group.instance.id) joins at once; a known instance id rejoining with no member id takes
//   the old member's place (KIP-345), without a rebalance when the group is Stable and its protocol unchanged;
// - a known member rejoining with the same protocols in a Stable group (and not the leader) just gets the current
//   generation back; anything else (new member, changed protocols, the leader) starts a rebalance.
import { ErrorCode } from "../protocol/errors.ts";
import type { GroupCoordinator } from "./coordinator.ts";
import { Member, type Group, type JoinResult, type Protocol } from "./group.ts";

export interface JoinRequest {
  groupId: string;
  memberId: string;
  groupInstanceId: string | null;
  clientId: string;
  clientHost: string;
  sessionTimeoutMs: number;
  rebalanceTimeoutMs: number;
  protocolType: string;
  /** Copied out of the request: members keep them for their lifetime. */
  protocols: Protocol[];
  /** v4+: a member without an id must first fetch one (MEMBER_ID_REQUIRED). */
  requireKnownMemberId: boolean;
  /** v9+: a rejoining static leader can be told to skip the assignment (KIP-814). */
  supportsSkipAssignment: boolean;
}

export function joinGroup(co: GroupCoordinator, req: JoinRequest): JoinResult | Promise<JoinResult> {
  const err = (code: number, memberId = req.memberId) => co.joinError(code, memberId);
  if (req.groupId === "") return err(ErrorCode.INVALID_GROUP_ID);
  const { minSessionTimeoutMs: min, maxSessionTimeoutMs: max } = co.config;
  if (req.sessionTimeoutMs < min || req.sessionTimeoutMs > max) return err(ErrorCode.INVALID_SESSION_TIMEOUT);
  if (req.protocolType === "" || req.protocols.length === 0) return err(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);

  if (req.memberId === "") {
    const existed = co.group(req.groupId) !== undefined;
    const g = co.getOrCreate(req.groupId);
    if (g.is("Dead")) return err(ErrorCode.COORDINATOR_NOT_AVAILABLE);
    if (!g.supportsProtocols(req.protocolType, req.protocols)) {
      if (!existed) co.groups.delete(req.groupId);
      return err(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
    }
    if (g.members.size + g.pendingMembers.size >= co.maxGroupSize) return err(ErrorCode.GROUP_MAX_SIZE_REACHED);
    const newId = `${req.groupInstanceId ?? req.clientId}-${crypto.randomUUID()}`;
    if (req.groupInstanceId !== null) {
      const oldId = g.staticMembers.get(req.groupInstanceId);
      if (oldId !== undefined) return replaceStaticMember(co, g, oldId, newId, req);
      return addMemberAndRebalance(co, g, newId, req);
    }
    if (req.requireKnownMemberId) {
      // The id is reserved until the member comes back with it, or its session timeout passes.
      g.pendingMembers.set(newId, setTimeout(() => {
        g.pendingMembers.delete(newId);
        co.maybeCompleteJoin(g);
      }, req.sessionTimeoutMs));
      return err(ErrorCode.MEMBER_ID_REQUIRED, newId);
    }
    return addMemberAndRebalance(co, g, newId, req);
  }

  const g = co.group(req.groupId);
  if (!g) return err(ErrorCode.UNKNOWN_MEMBER_ID);
  if (g.is("Dead")) return err(ErrorCode.COORDINATOR_NOT_AVAILABLE);
  if (!g.supportsProtocols(req.protocolType, req.protocols)) return err(ErrorCode.INCONSISTENT_GROUP_PROTOCOL);
  const pending = g.pendingMembers.get(req.memberId);
  if (pending !== undefined) {
    clearTimeout(pending);
    g.pendingMembers.delete(req.memberId);
    return addMemberAndRebalance(co, g, req.memberId, req);
  }
  if (g.isStaticMemberFenced(req.groupInstanceId, req.memberId)) return err(ErrorCode.FENCED_INSTANCE_ID);
  const m = g.members.get(req.memberId);
  if (!m) return err(ErrorCode.UNKNOWN_MEMBER_ID);
  switch (g.state) {
    case "PreparingRebalance":
      return updateMemberAndRebalance(co, g, m, req);
    case "CompletingRebalance":
      // The same member with the same protocols probably lost our answer: send the current generation again.
      if (m.sameProtocols(req.protocols)) return currentGeneration(co, g, m);
      return updateMemberAndRebalance(co, g, m, req);
    case "Stable":
      if (g.isLeader(m.memberId) || !m.sameProtocols(req.protocols)) return updateMemberAndRebalance(co, g, m, req);
      return currentGeneration(co, g, m);
    default:
      return err(ErrorCode.UNKNOWN_MEMBER_ID);
  }
}

function currentGeneration(co: GroupCoordinator, g: Group, m: Member): JoinResult {
  co.heartbeatReceived(g, m);
  const isLeader = g.isLeader(m.memberId);
  return {
    errorCode: 0,
    generationId: g.generationId,
    protocolType: g.protocolType,
    protocolName: g.protocolName,
    leader: g.leaderId ?? "",
    memberId: m.memberId,
    members: isLeader ? g.memberMetadata() : [],
  };
}

/** Resolves when the member's join completes; a second join while waiting shares the outcome. */
function awaitJoin(m: Member): Promise<JoinResult> {
  return new Promise((resolve) => {
    const prev = m.awaitingJoin;
    m.awaitingJoin = prev ? (r) => (prev(r), resolve(r)) : resolve;
  });
}

function addMemberAndRebalance(co: GroupCoordinator, g: Group, memberId: string, req: JoinRequest): Promise<JoinResult> {
  const m = new Member(memberId, req.groupInstanceId, req.clientId, req.clientHost, req.sessionTimeoutMs, req.rebalanceTimeoutMs, req.protocols);
  m.isNew = true;
  if (g.members.size === 0) g.protocolType = req.protocolType;
  g.add(m);
  if (g.is("PreparingRebalance") && g.inInitialDelay) g.newMemberAdded = true; // also for an Empty group reused
  const joined = awaitJoin(m);
  co.heartbeatReceived(g, m);
  if (g.is("PreparingRebalance")) co.maybeCompleteJoin(g);
  else co.prepareRebalance(g, `member ${memberId} joined`);
  return joined;
}

function updateMemberAndRebalance(co: GroupCoordinator, g: Group, m: Member, req: JoinRequest): Promise<JoinResult> {
  m.protocols = req.protocols;
  m.sessionTimeoutMs = req.sessionTimeoutMs;
  m.rebalanceTimeoutMs = req.rebalanceTimeoutMs;
  m.clientId = req.clientId;
  m.clientHost = req.clientHost;
  const joined = awaitJoin(m);
  co.heartbeatReceived(g, m);
  if (g.is("PreparingRebalance")) co.maybeCompleteJoin(g);
  else co.prepareRebalance(g, `member ${m.memberId} rejoined${g.isLeader(m.memberId) ? " (the leader)" : " with new protocols"}`);
  return joined;
}

/** KIP-345: a static member restarted under a new member id takes over its old identity and assignment. */
function replaceStaticMember(co: GroupCoordinator, g: Group, oldId: string, newId: string, req: JoinRequest): JoinResult | Promise<JoinResult> {
  const old = g.members.get(oldId)!;
  old.awaitingJoin?.(co.joinError(ErrorCode.FENCED_INSTANCE_ID, oldId));
  old.awaitingJoin = null;
  old.awaitingSync?.(co.syncError(ErrorCode.FENCED_INSTANCE_ID));
  old.awaitingSync = null;
  if (old.heartbeatTimer) clearTimeout(old.heartbeatTimer);
  old.heartbeatTimer = null;
  const leaderBefore = g.leaderId;
  const m = new Member(newId, req.groupInstanceId, req.clientId, req.clientHost, req.sessionTimeoutMs, req.rebalanceTimeoutMs, req.protocols);
  m.assignment = old.assignment;
  g.replace(oldId, m);
  co.logger.info(`group ${g.groupId}: static member ${req.groupInstanceId} rejoined as ${newId} (was ${oldId})`);
  switch (g.state) {
    case "Stable": {
      if (g.protocolName !== null && g.candidateProtocols().has(g.protocolName) && g.selectProtocol() === g.protocolName) {
        co.heartbeatReceived(g, m);
        // A rejoining leader must not run a pointless assignment in a Stable group; its SyncGroup returns the
        // assignment it had. From v9 it is told so (KIP-814: it leads, with the members, but skips the assignment,
        // and so still watches for metadata changes); before v9 it gets the old leader id and acts as a follower.
        const isLeader = g.isLeader(newId);
        const result: JoinResult = req.supportsSkipAssignment
          ? { errorCode: 0, generationId: g.generationId, protocolType: g.protocolType, protocolName: g.protocolName, leader: g.leaderId ?? "", memberId: newId, members: isLeader ? g.memberMetadata() : [], skipAssignment: isLeader }
          : { errorCode: 0, generationId: g.generationId, protocolType: g.protocolType, protocolName: g.protocolName, leader: leaderBefore ?? "", memberId: newId, members: [] };
        return co.storeGroup(g).then(
          () => result,
          () => co.joinError(ErrorCode.COORDINATOR_NOT_AVAILABLE, newId),
        );
      }
      const joined = awaitJoin(m);
      co.heartbeatReceived(g, m);
      co.prepareRebalance(g, `static member ${req.groupInstanceId} rejoined with a different protocol`);
      return joined;
    }
    case "CompletingRebalance": {
      const joined = awaitJoin(m);
      co.heartbeatReceived(g, m);
      co.prepareRebalance(g, `static member ${req.groupInstanceId} rejoined during a rebalance`);
      return joined;
    }
    default: {
      const joined = awaitJoin(m);
      co.heartbeatReceived(g, m);
      co.maybeCompleteJoin(g);
      return joined;
    }
  }
}
