// A classic consumer group (Kafka's GroupMetadata): members, generation, selected protocol, leader, state.
//
// States and transitions, as Apache Kafka has them:
//   Empty ──join──▶ PreparingRebalance ──all joined / rebalance timeout──▶ CompletingRebalance ──leader's sync──▶ Stable
//   Stable / CompletingRebalance ──join with new protocols, leave, session expiry──▶ PreparingRebalance
//   PreparingRebalance ──last member gone──▶ Empty;  any ──DeleteGroups / offsets expired──▶ Dead
// Only the coordinator (coordinator.ts and the step files) changes a group, always synchronously.

export type GroupState = "Empty" | "PreparingRebalance" | "CompletingRebalance" | "Stable" | "Dead";

export interface Protocol {
  name: string;
  metadata: Uint8Array;
}

export interface JoinResult {
  errorCode: number;
  generationId: number;
  protocolType: string | null;
  protocolName: string | null;
  leader: string;
  memberId: string;
  members: { memberId: string; groupInstanceId: string | null; metadata: Uint8Array }[];
  /** KIP-814 (JoinGroup v9+): a rejoining static leader gets the members but must not compute an assignment. */
  skipAssignment?: boolean;
}

export interface SyncResult {
  errorCode: number;
  protocolType: string | null;
  protocolName: string | null;
  assignment: Uint8Array;
}

export class Member {
  protocols: Protocol[];
  assignment: Uint8Array = new Uint8Array(0);
  /** Set while the member waits for its JoinGroup response. */
  awaitingJoin: ((r: JoinResult) => void) | null = null;
  /** Set while the member waits for its SyncGroup response. */
  awaitingSync: ((r: SyncResult) => void) | null = null;
  heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  /** Joined in the generation being formed (cleared when a rebalance starts). */
  isNew = false;

  constructor(
    public memberId: string,
    readonly groupInstanceId: string | null,
    public clientId: string,
    public clientHost: string,
    public sessionTimeoutMs: number,
    public rebalanceTimeoutMs: number,
    protocols: Protocol[],
  ) {
    this.protocols = protocols;
  }

  metadataFor(protocol: string): Uint8Array {
    return this.protocols.find((p) => p.name === protocol)?.metadata ?? new Uint8Array(0);
  }

  /** Same protocols, in the same order, with the same metadata. */
  sameProtocols(ps: Protocol[]): boolean {
    if (ps.length !== this.protocols.length) return false;
    return ps.every((p, i) => p.name === this.protocols[i]!.name && Buffer.compare(p.metadata, this.protocols[i]!.metadata) === 0);
  }
}

export class Group {
  state: GroupState = "Empty";
  generationId = 0;
  protocolType: string | null = null;
  protocolName: string | null = null;
  leaderId: string | null = null;
  readonly members = new Map<string, Member>();
  /** Member ids handed out with MEMBER_ID_REQUIRED whose owners have not joined yet (id → expiry timer). */
  readonly pendingMembers = new Map<string, ReturnType<typeof setTimeout>>();
  /** groupInstanceId → member id, for static members. */
  readonly staticMembers = new Map<string, string>();
  /** When the group last changed state (offset expiry of empty groups counts from here). */
  stateChangedAt = Date.now();
  /** A join (or its initial delay) is scheduled to complete. */
  joinTimer: ReturnType<typeof setTimeout> | null = null;
  /** A rebalance that started from Empty is in its initial delay: it never completes early. */
  inInitialDelay = false;
  /** Members joined during the current initial delay (so it is extended, as Kafka's InitialDelayedJoin does). */
  newMemberAdded = false;
  syncTimer: ReturnType<typeof setTimeout> | null = null;
  /** Members of the current generation that have not sent their SyncGroup yet (Kafka's pendingSyncMembers). */
  readonly pendingSync = new Set<string>();

  constructor(readonly groupId: string) {}

  transition(to: GroupState): void {
    this.state = to;
    this.stateChangedAt = Date.now();
  }

  is(...states: GroupState[]): boolean {
    return states.includes(this.state);
  }

  isLeader(memberId: string): boolean {
    return this.leaderId === memberId;
  }

  add(m: Member): void {
    this.members.set(m.memberId, m);
    if (m.groupInstanceId !== null) this.staticMembers.set(m.groupInstanceId, m.memberId);
    this.leaderId ??= m.memberId;
  }

  remove(memberId: string): Member | undefined {
    const m = this.members.get(memberId);
    if (!m) return undefined;
    this.members.delete(memberId);
    this.pendingSync.delete(memberId);
    if (m.groupInstanceId !== null && this.staticMembers.get(m.groupInstanceId) === memberId) this.staticMembers.delete(m.groupInstanceId);
    if (this.leaderId === memberId) this.leaderId = this.members.keys().next().value ?? null;
    return m;
  }

  /** A static member rejoining under a new member id takes the old one's place (and leadership). */
  replace(oldId: string, m: Member): void {
    const wasLeader = this.leaderId === oldId;
    this.members.delete(oldId);
    this.members.set(m.memberId, m);
    if (this.pendingSync.delete(oldId)) this.pendingSync.add(m.memberId);
    if (m.groupInstanceId !== null) this.staticMembers.set(m.groupInstanceId, m.memberId);
    if (wasLeader) this.leaderId = m.memberId;
  }

  /** A static member whose instance id now belongs to a different member id has been fenced. */
  isStaticMemberFenced(groupInstanceId: string | null | undefined, memberId: string): boolean {
    if (groupInstanceId == null) return false;
    const current = this.staticMembers.get(groupInstanceId);
    return current !== undefined && current !== memberId;
  }

  /** Protocol names every member supports. */
  candidateProtocols(): Set<string> {
    const counts = new Map<string, number>();
    for (const m of this.members.values()) for (const p of new Set(m.protocols.map((x) => x.name))) counts.set(p, (counts.get(p) ?? 0) + 1);
    const common = new Set<string>();
    for (const [name, n] of counts) if (n === this.members.size) common.add(name);
    return common;
  }

  /** Whether a joining member's protocols can coexist with the group's (same type, one protocol in common). */
  supportsProtocols(protocolType: string, protocols: Protocol[]): boolean {
    if (this.members.size === 0) return protocolType !== "" && protocols.length > 0;
    if (this.protocolType !== protocolType) return false;
    const candidates = this.candidateProtocols();
    return protocols.some((p) => candidates.has(p.name));
  }

  /** Kafka's selectProtocol: every member votes for its most preferred candidate; the most votes win. */
  selectProtocol(): string {
    const candidates = this.candidateProtocols();
    const votes = new Map<string, number>();
    for (const m of this.members.values()) {
      const choice = m.protocols.find((p) => candidates.has(p.name));
      if (choice) votes.set(choice.name, (votes.get(choice.name) ?? 0) + 1);
    }
    let best: string | null = null;
    for (const [name, n] of votes) if (best === null || n > votes.get(best)!) best = name;
    if (best === null) throw new Error(`group ${this.groupId} has no protocol every member supports`);
    return best;
  }

  /** Every member with its metadata for the selected protocol: what the leader gets to compute an assignment. */
  memberMetadata(): JoinResult["members"] {
    return [...this.members.values()].map((m) => ({ memberId: m.memberId, groupInstanceId: m.groupInstanceId, metadata: m.metadataFor(this.protocolName ?? "") }));
  }

  allMembersJoined(): boolean {
    if (this.pendingMembers.size > 0) return false;
    for (const m of this.members.values()) if (!m.awaitingJoin) return false;
    return true;
  }

  maxRebalanceTimeout(): number {
    let t = 0;
    for (const m of this.members.values()) t = Math.max(t, m.rebalanceTimeoutMs);
    return t;
  }
}
