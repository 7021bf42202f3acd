// Committed offsets: group → topic → partition → {offset, leader epoch, metadata, commit time}, kept in the
// metadata log ("offset", "offset-deleted" records). A commit is answered only once its records are durable, and
// becomes visible to OffsetFetch at the same moment. Offsets of a deleted topic go with it.
//
// Retention (Kafka ≥ 2.1): a consumer group's offsets expire --offsets-retention after the group became empty;
// a group that only commits (no members, no protocol) loses each offset --offsets-retention after its commit.
import type { Catalog, CatalogListener, TopicMeta } from "../meta/catalog.ts";
import type { MetaOwner, MetadataLog } from "../meta/metadata-log.ts";
import type { RawRecord } from "../meta/records.ts";
import { OFFSET_RECORD_TYPES, decodeOffsetRecord, type OffsetRecord } from "./records.ts";
import { ErrorCode } from "../protocol/errors.ts";
import type { GroupCoordinator } from "./coordinator.ts";

export interface CommittedOffset {
  offset: number;
  leaderEpoch: number;
  metadata: string;
  commitTimestamp: number;
}

export interface OffsetToCommit {
  topic: string;
  partition: number;
  offset: number;
  leaderEpoch: number;
  metadata: string;
}

/** Kafka's offset.metadata.max.bytes default. */
export const MAX_METADATA_BYTES = 4096;

export class OffsetStore implements MetaOwner<OffsetRecord>, CatalogListener {
  readonly types = OFFSET_RECORD_TYPES;
  private readonly byGroup = new Map<string, Map<string, Map<number, CommittedOffset>>>();

  constructor(private readonly meta: MetadataLog, catalog: Catalog, private readonly groups: GroupCoordinator) {
    meta.register(this);
    catalog.listen(this);
  }

  get(groupId: string, topic: string, partition: number): CommittedOffset | undefined {
    return this.byGroup.get(groupId)?.get(topic)?.get(partition);
  }

  /** topic → partition → offset, for OffsetFetch with no topic list. */
  all(groupId: string): ReadonlyMap<string, ReadonlyMap<number, CommittedOffset>> {
    return this.byGroup.get(groupId) ?? new Map();
  }

  hasOffsets(groupId: string): boolean {
    return (this.byGroup.get(groupId)?.size ?? 0) > 0;
  }

  /** Writes the commits; resolves once durable (and visible). */
  commit(groupId: string, items: OffsetToCommit[], now = Date.now()): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return this.meta.append(...items.map((i): OffsetRecord => ({ type: "offset", g: groupId, t: i.topic, p: i.partition, o: i.offset, e: i.leaderEpoch, m: i.metadata, ts: now })));
  }

  deleteOffsets(groupId: string, items: { topic: string; partition: number }[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    return this.meta.append(...items.map((i): OffsetRecord => ({ type: "offset-deleted", g: groupId, t: i.topic, p: i.partition })));
  }

  deleteGroup(groupId: string): Promise<void> {
    return this.meta.append({ type: "offset-deleted", g: groupId });
  }

  /** Removes expired offsets (see the file comment); returns the groups left with none. */
  async expire(co: GroupCoordinator, retentionMs: number, now = Date.now()): Promise<string[]> {
    const recs: OffsetRecord[] = [];
    const emptied: string[] = [];
    for (const [groupId, topics] of this.byGroup) {
      const g = co.group(groupId);
      if (g && !g.is("Empty", "Dead")) continue;
      const consumerGroup = g?.protocolType != null;
      let kept = 0;
      for (const [topic, parts] of topics) {
        for (const [partition, c] of parts) {
          const since = consumerGroup ? Math.max(g!.stateChangedAt, c.commitTimestamp) : c.commitTimestamp;
          if (since + retentionMs <= now) recs.push({ type: "offset-deleted", g: groupId, t: topic, p: partition });
          else kept++;
        }
      }
      if (kept === 0) emptied.push(groupId);
    }
    if (recs.length) await this.meta.append(...recs);
    return emptied;
  }

  // --- MetaOwner -------------------------------------------------------------------------------------------

  decode(raw: RawRecord): OffsetRecord {
    return decodeOffsetRecord(raw);
  }

  apply(rec: OffsetRecord): void {
    const groupId = rec.g;
    if (rec.type === "offset") {
      let topics = this.byGroup.get(groupId);
      if (!topics) this.byGroup.set(groupId, (topics = new Map()));
      let parts = topics.get(rec.t);
      if (!parts) topics.set(rec.t, (parts = new Map()));
      parts.set(rec.p, { offset: rec.o, leaderEpoch: rec.e, metadata: rec.m, commitTimestamp: rec.ts });
      return;
    }
    const topics = this.byGroup.get(groupId);
    if (!topics) return;
    if (rec.t === undefined || rec.p === undefined) {
      this.byGroup.delete(groupId);
      return;
    }
    const parts = topics.get(rec.t);
    parts?.delete(rec.p);
    if (parts?.size === 0) topics.delete(rec.t);
    if (topics.size === 0) this.byGroup.delete(groupId);
  }

  activate(): void {
    // A group that only commits offsets (a simple consumer: assign() and commit) has no group record: it exists
    // through its offsets, Empty and without a protocol type, as Kafka's coordinator loads it (ListGroups,
    // DescribeGroups and DeleteGroups see it after a restart too).
    for (const id of this.byGroup.keys()) if (!this.groups.group(id)) this.groups.getOrCreate(id);
  }

  snapshot(): OffsetRecord[] {
    const recs: OffsetRecord[] = [];
    for (const [g, topics] of this.byGroup) {
      for (const [t, parts] of topics) {
        for (const [p, c] of parts) recs.push({ type: "offset", g, t, p, o: c.offset, e: c.leaderEpoch, m: c.metadata, ts: c.commitTimestamp });
      }
    }
    return recs;
  }

  // --- CatalogListener: offsets of a deleted topic go with it --------------------------------------------------

  topicDeleted(t: TopicMeta): void {
    for (const [g, topics] of this.byGroup) {
      topics.delete(t.name);
      if (topics.size === 0) this.byGroup.delete(g);
    }
  }
  topicCreated(): void {}
  partitionsAdded(): void {}
  configsChanged(): void {}
}

/**
 * Whether a member may commit (Kafka's doCommitOffsets checks). A commit with generation -1 to an unknown or
 * empty group is a simple consumer's and creates the group (Empty, no protocol) so it can be listed and deleted.
 */
export function checkCommitter(co: GroupCoordinator, groupId: string, generationId: number, memberId: string, groupInstanceId: string | null): number {
  let g = co.group(groupId);
  if (!g) {
    if (generationId >= 0) return ErrorCode.ILLEGAL_GENERATION;
    g = co.getOrCreate(groupId);
  }
  if (g.is("Dead")) return ErrorCode.COORDINATOR_NOT_AVAILABLE;
  if (g.isStaticMemberFenced(groupInstanceId, memberId)) return ErrorCode.FENCED_INSTANCE_ID;
  if (generationId < 0 && g.is("Empty")) return 0;
  if (g.is("CompletingRebalance")) return ErrorCode.REBALANCE_IN_PROGRESS;
  const m = g.members.get(memberId);
  if (!m) return ErrorCode.UNKNOWN_MEMBER_ID;
  if (generationId !== g.generationId) return ErrorCode.ILLEGAL_GENERATION;
  co.heartbeatReceived(g, m); // a commit proves the member is alive, as in Kafka
  return 0;
}
