// The group coordinator: every classic group lives here. This file holds the shared machinery — rebalance
// start/completion, member expiry, persistence — and the admin views; each API's step logic lives in its own
// file (join.ts, sync.ts, heartbeat.ts, leave.ts) and calls back into this one. All state changes are synchronous;
// the only awaits are metadata-log writes (group metadata after a rebalance), after which state is re-checked.
//
// Persistence: a "group" record (generation, protocol, leader, members with their metadata and assignment) is
// written whenever a generation's assignment is complete and whenever a group becomes empty; "group-deleted"
// when it is deleted. On start the last record per group is loaded: members come back in a Stable group and keep
// their assignment if they heartbeat within their session timeout, as with a Kafka coordinator failover.
import type { Logger } from "../logger.ts";
import type { MetaOwner, MetadataLog } from "../meta/metadata-log.ts";
import type { RawRecord } from "../meta/records.ts";
import { GROUP_RECORD_TYPES, decodeGroupRecord, type GroupRecord } from "./records.ts";
import { ErrorCode } from "../protocol/errors.ts";
import { Group, Member, type GroupState, type JoinResult, type SyncResult } from "./group.ts";

export interface GroupConfig {
  minSessionTimeoutMs: number;
  maxSessionTimeoutMs: number;
  initialRebalanceDelayMs: number;
  offsetsRetentionMs: number;
}

/** Kafka's group.max.size default is unbounded; we keep a sane cap against runaway joins. */
const MAX_GROUP_SIZE = 10_000;

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));

type StoredGroup = Extract<GroupRecord, { type: "group" }>;

export class GroupCoordinator implements MetaOwner<GroupRecord> {
  readonly types = GROUP_RECORD_TYPES;
  readonly groups = new Map<string, Group>();
  /** The last persisted record per group: what a restart would load (and what compaction keeps). */
  private readonly stored = new Map<string, StoredGroup>();
  private live = false;

  constructor(
    private readonly meta: MetadataLog,
    readonly config: GroupConfig,
    readonly logger: Logger,
  ) {
    meta.register(this);
  }

  get maxGroupSize(): number {
    return MAX_GROUP_SIZE;
  }

  group(groupId: string): Group | undefined {
    return this.groups.get(groupId);
  }

  getOrCreate(groupId: string): Group {
    let g = this.groups.get(groupId);
    if (!g) {
      g = new Group(groupId);
      this.groups.set(groupId, g);
    }
    return g;
  }

  // --- member liveness -----------------------------------------------------------------------------------------

  /** (Re)arms a member's session timer. */
  heartbeatReceived(g: Group, m: Member): void {
    if (m.heartbeatTimer) clearTimeout(m.heartbeatTimer);
    m.heartbeatTimer = setTimeout(() => this.sessionExpired(g, m), m.sessionTimeoutMs);
  }

  private sessionExpired(g: Group, m: Member): void {
    m.heartbeatTimer = null;
    if (g.members.get(m.memberId) !== m) return;
    // A member waiting for its join or sync answer is alive by definition (Kafka's shouldKeepAlive).
    if (m.awaitingJoin || m.awaitingSync) {
      this.heartbeatReceived(g, m);
      return;
    }
    this.logger.info(`group ${g.groupId}: member ${m.memberId} timed out after ${m.sessionTimeoutMs} ms without a heartbeat`);
    this.removeMember(g, m, "session timeout");
  }

  /** Removes a member (left, expired or replaced), answers anything it waits for, and rebalances if needed. */
  removeMember(g: Group, m: Member, reason: string): void {
    if (m.heartbeatTimer) clearTimeout(m.heartbeatTimer);
    m.heartbeatTimer = null;
    m.awaitingJoin?.(this.joinError(ErrorCode.UNKNOWN_MEMBER_ID, m.memberId));
    m.awaitingJoin = null;
    m.awaitingSync?.(this.syncError(ErrorCode.UNKNOWN_MEMBER_ID));
    m.awaitingSync = null;
    g.remove(m.memberId);
    switch (g.state) {
      case "Stable":
      case "CompletingRebalance":
        this.prepareRebalance(g, `member ${m.memberId} left (${reason})`);
        break;
      case "PreparingRebalance":
        this.maybeCompleteJoin(g);
        break;
      default:
        break;
    }
  }

  // --- rebalancing ---------------------------------------------------------------------------------------------

  /** Starts a rebalance (Kafka's prepareRebalance). A group coming out of Empty waits the initial delay first. */
  prepareRebalance(g: Group, reason: string): void {
    if (g.is("PreparingRebalance", "Dead")) return;
    if (g.is("CompletingRebalance")) {
      // Assignments of the aborted generation are void: members waiting for them rejoin.
      for (const m of g.members.values()) {
        m.assignment = new Uint8Array(0);
        m.awaitingSync?.(this.syncError(ErrorCode.REBALANCE_IN_PROGRESS));
        m.awaitingSync = null;
      }
    }
    if (g.syncTimer) clearTimeout(g.syncTimer);
    g.syncTimer = null;
    const fromEmpty = g.is("Empty");
    g.transition("PreparingRebalance");
    this.logger.debug(`group ${g.groupId}: preparing rebalance (${reason})`);
    const rebalanceTimeout = g.maxRebalanceTimeout();
    if (fromEmpty && this.config.initialRebalanceDelayMs > 0) {
      const delay = Math.min(this.config.initialRebalanceDelayMs, rebalanceTimeout || this.config.initialRebalanceDelayMs);
      this.initialDelay(g, delay, Math.max(rebalanceTimeout - this.config.initialRebalanceDelayMs, 0));
    } else {
      this.armJoinTimer(g, rebalanceTimeout);
      this.maybeCompleteJoin(g);
    }
  }

  /** Kafka's InitialDelayedJoin: wait; if members kept arriving, wait again, within the rebalance timeout. */
  private initialDelay(g: Group, delay: number, remaining: number): void {
    g.newMemberAdded = false;
    g.inInitialDelay = true;
    if (g.joinTimer) clearTimeout(g.joinTimer);
    g.joinTimer = setTimeout(() => {
      g.joinTimer = null;
      if (!g.is("PreparingRebalance")) return;
      if (g.newMemberAdded && remaining > 0) {
        const next = Math.min(this.config.initialRebalanceDelayMs, remaining);
        this.initialDelay(g, next, Math.max(remaining - next, 0));
      } else {
        this.completeJoin(g);
      }
    }, delay);
  }

  private armJoinTimer(g: Group, timeoutMs: number): void {
    if (g.joinTimer) clearTimeout(g.joinTimer);
    g.inInitialDelay = false;
    g.joinTimer = setTimeout(() => {
      g.joinTimer = null;
      if (g.is("PreparingRebalance")) this.completeJoin(g);
    }, timeoutMs);
  }

  /** Completes the join phase early once every known member has rejoined (not during the initial delay). */
  maybeCompleteJoin(g: Group): void {
    if (g.is("PreparingRebalance") && !g.inInitialDelay && g.allMembersJoined()) this.completeJoin(g);
  }

  /**
   * Kafka's onCompleteJoin: drop dynamic members that did not rejoin (static ones stay: KIP-345 lets them come back
   * within their session timeout), pick a leader among those that did, start the next generation, answer every
   * join. With only absent static members left there is nobody to lead: wait another rebalance timeout.
   */
  completeJoin(g: Group): void {
    if (g.joinTimer) clearTimeout(g.joinTimer);
    g.joinTimer = null;
    g.inInitialDelay = false;
    for (const m of [...g.members.values()]) {
      if (!m.awaitingJoin && m.groupInstanceId === null) {
        this.logger.info(`group ${g.groupId}: member ${m.memberId} did not rejoin in time; removing it`);
        if (m.heartbeatTimer) clearTimeout(m.heartbeatTimer);
        m.awaitingSync?.(this.syncError(ErrorCode.UNKNOWN_MEMBER_ID));
        g.remove(m.memberId);
      }
    }
    const joined = [...g.members.values()].filter((m) => m.awaitingJoin);
    if (g.members.size > 0 && joined.length === 0) {
      this.logger.warn(`group ${g.groupId}: no member rejoined; waiting for absent static members to return or expire`);
      this.armJoinTimer(g, g.maxRebalanceTimeout());
      return;
    }
    g.generationId++;
    g.pendingSync.clear();
    if (g.members.size === 0) {
      g.protocolName = null;
      g.transition("Empty");
      this.logger.info(`group ${g.groupId} is empty (generation ${g.generationId})`);
      void this.storeGroup(g).catch(() => {});
      return;
    }
    g.protocolName = g.selectProtocol();
    if (!g.leaderId || !g.members.get(g.leaderId)?.awaitingJoin) g.leaderId = joined[0]!.memberId;
    g.transition("CompletingRebalance");
    this.logger.info(`group ${g.groupId}: generation ${g.generationId} with ${g.members.size} members, protocol ${g.protocolName}, leader ${g.leaderId}`);
    const all = g.memberMetadata();
    for (const m of g.members.values()) {
      g.pendingSync.add(m.memberId);
      this.heartbeatReceived(g, m);
      const respond = m.awaitingJoin;
      m.awaitingJoin = null;
      m.isNew = false;
      respond?.({
        errorCode: 0,
        generationId: g.generationId,
        protocolType: g.protocolType,
        protocolName: g.protocolName,
        leader: g.leaderId!,
        memberId: m.memberId,
        members: m.memberId === g.leaderId ? all : [],
      });
    }
    // Members that send no SyncGroup within the rebalance timeout are dropped (Kafka's pending-sync expiry), also
    // after the leader's assignment made the group Stable.
    const generation = g.generationId;
    g.syncTimer = setTimeout(() => {
      g.syncTimer = null;
      if (!g.is("CompletingRebalance", "Stable") || g.generationId !== generation || g.pendingSync.size === 0) return;
      for (const id of [...g.pendingSync]) {
        const m = g.members.get(id);
        this.logger.info(`group ${g.groupId}: member ${id} sent no SyncGroup within the rebalance timeout`);
        if (m?.heartbeatTimer) clearTimeout(m.heartbeatTimer);
        m?.awaitingSync?.(this.syncError(ErrorCode.UNKNOWN_MEMBER_ID));
        if (m) m.awaitingSync = null;
        g.remove(id);
      }
      this.prepareRebalance(g, "members did not sync in time");
    }, g.maxRebalanceTimeout());
  }

  /** Completes a generation with the leader's assignment: persisted first, then every waiting member answered. */
  async completeSync(g: Group, assignments: Map<string, Uint8Array>): Promise<number> {
    const generation = g.generationId;
    for (const m of g.members.values()) m.assignment = assignments.get(m.memberId) ?? new Uint8Array(0);
    try {
      // Other requests interleave while the group metadata is written; the generation is re-checked after.
      await this.storeGroup(g);
    } catch (e) {
      this.logger.error(`group ${g.groupId}: persisting generation ${generation} failed: ${(e as Error).message}`);
      if (g.is("CompletingRebalance") && g.generationId === generation) {
        for (const m of g.members.values()) {
          m.assignment = new Uint8Array(0);
          m.awaitingSync?.(this.syncError(ErrorCode.COORDINATOR_NOT_AVAILABLE));
          m.awaitingSync = null;
        }
        this.prepareRebalance(g, "could not persist the assignment");
      }
      return ErrorCode.COORDINATOR_NOT_AVAILABLE;
    }
    if (!g.is("CompletingRebalance") || g.generationId !== generation) return ErrorCode.REBALANCE_IN_PROGRESS;
    g.transition("Stable");
    for (const m of g.members.values()) {
      const respond = m.awaitingSync;
      m.awaitingSync = null;
      respond?.({ errorCode: 0, protocolType: g.protocolType, protocolName: g.protocolName, assignment: m.assignment });
    }
    return 0;
  }

  joinError(errorCode: number, memberId = ""): JoinResult {
    return { errorCode, generationId: -1, protocolType: null, protocolName: null, leader: "", memberId, members: [] };
  }

  syncError(errorCode: number): SyncResult {
    return { errorCode, protocolType: null, protocolName: null, assignment: new Uint8Array(0) };
  }

  // --- persistence ---------------------------------------------------------------------------------------------

  private record(g: Group): StoredGroup {
    return {
      type: "group",
      id: g.groupId,
      protocolType: g.protocolType,
      protocol: g.protocolName,
      generation: g.generationId,
      leader: g.leaderId,
      at: g.stateChangedAt,
      members: [...g.members.values()].map((m) => ({
        id: m.memberId,
        instance: m.groupInstanceId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        session: m.sessionTimeoutMs,
        rebalance: m.rebalanceTimeoutMs,
        metadata: b64(g.protocolName ? m.metadataFor(g.protocolName) : new Uint8Array(0)),
        assignment: b64(m.assignment),
      })),
    };
  }

  storeGroup(g: Group): Promise<void> {
    const rec = this.record(g);
    return this.meta.append(rec).then(() => {
      this.stored.set(g.groupId, rec);
    });
  }

  /** Deletes an empty group for good (its offsets are the offset store's business). */
  async deleteGroup(g: Group): Promise<void> {
    await this.meta.append({ type: "group-deleted", id: g.groupId });
    if (this.groups.get(g.groupId) === g && g.members.size === 0) {
      g.transition("Dead");
      this.groups.delete(g.groupId);
      this.stored.delete(g.groupId);
    }
  }

  /** Drops an empty group whose offsets all expired (no record: an empty group without offsets is not kept). */
  forgetEmpty(groupId: string): void {
    const g = this.groups.get(groupId);
    if (g && g.is("Empty") && g.members.size === 0) {
      g.transition("Dead");
      this.groups.delete(groupId);
      if (this.stored.has(groupId)) void this.meta.append({ type: "group-deleted", id: groupId }).then(() => this.stored.delete(groupId), () => {});
    }
  }

  decode(raw: RawRecord): GroupRecord {
    return decodeGroupRecord(raw);
  }

  apply(rec: GroupRecord): void {
    if (this.live) return; // at run time the state machine is ahead of its records
    if (rec.type === "group-deleted") {
      this.groups.delete(rec.id);
      this.stored.delete(rec.id);
      return;
    }
    const g = new Group(rec.id);
    g.protocolType = rec.protocolType;
    g.protocolName = rec.protocol;
    g.generationId = rec.generation;
    g.leaderId = rec.leader;
    g.stateChangedAt = rec.at ?? Date.now();
    for (const r of rec.members) {
      const m = new Member(r.id, r.instance, r.clientId, r.clientHost, r.session, r.rebalance, g.protocolName ? [{ name: g.protocolName, metadata: unb64(r.metadata) }] : []);
      m.assignment = unb64(r.assignment);
      g.add(m);
    }
    g.leaderId = rec.leader;
    g.state = g.members.size > 0 ? "Stable" : "Empty";
    this.groups.set(g.groupId, g);
    this.stored.set(g.groupId, rec);
  }

  activate(): void {
    this.live = true;
    // Loaded members get a full session timeout to show up, as after a coordinator failover.
    for (const g of this.groups.values()) for (const m of g.members.values()) this.heartbeatReceived(g, m);
  }

  snapshot(): GroupRecord[] {
    return [...this.stored.values()];
  }

  // --- admin views ---------------------------------------------------------------------------------------------

  list(states: readonly string[] | null): Group[] {
    const wanted = states && states.length ? new Set(states.map((s) => s.toLowerCase())) : null;
    return [...this.groups.values()].filter((g) => !wanted || wanted.has(g.state.toLowerCase()));
  }

  /**
   * This node stops coordinating (shutdown, or a primary stepping down): requests waiting in a rebalance are
   * answered NOT_COORDINATOR now, as a Kafka coordinator unloading its groups does, so members go find the next
   * coordinator instead of holding the shutdown up for the rest of the rebalance.
   */
  releaseWaiters(): void {
    for (const g of this.groups.values()) {
      for (const m of g.members.values()) {
        m.awaitingJoin?.(this.joinError(ErrorCode.NOT_COORDINATOR, m.memberId));
        m.awaitingJoin = null;
        m.awaitingSync?.(this.syncError(ErrorCode.NOT_COORDINATOR));
        m.awaitingSync = null;
      }
    }
  }

  /** Stops every timer (shutdown). */
  close(): void {
    for (const g of this.groups.values()) {
      if (g.joinTimer) clearTimeout(g.joinTimer);
      if (g.syncTimer) clearTimeout(g.syncTimer);
      for (const t of g.pendingMembers.values()) clearTimeout(t);
      for (const m of g.members.values()) if (m.heartbeatTimer) clearTimeout(m.heartbeatTimer);
    }
  }
}

export type { GroupState };
