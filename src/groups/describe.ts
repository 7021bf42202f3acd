// Read-only views of groups: DescribeGroups' summary, and the topics a consumer group subscribes to (decoded from
// its members' consumer-protocol metadata).
import { Reader } from "../protocol/codec.ts";
import { readConsumerProtocolSubscription } from "../protocol/messages/consumer-protocol.ts";
import type { GroupCoordinator } from "./coordinator.ts";
import type { Group } from "./group.ts";

// Kafka AclOperation codes for groups: READ 3, DELETE 6, DESCRIBE 8.
const GROUP_OPS = (1 << 3) | (1 << 6) | (1 << 8);
const EMPTY = new Uint8Array(0);

export function describeGroup(co: GroupCoordinator, groupId: string, withOps: boolean) {
  const g = co.group(groupId);
  const authorizedOperations = withOps ? GROUP_OPS : -2147483648;
  if (!g) return { errorCode: 0, groupId, groupState: "Dead", protocolType: "", protocolData: "", members: [], authorizedOperations };
  const stable = g.is("Stable");
  return {
    errorCode: 0,
    groupId,
    groupState: g.state,
    protocolType: g.protocolType ?? "",
    protocolData: stable ? (g.protocolName ?? "") : "",
    authorizedOperations,
    members: [...g.members.values()].map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      memberMetadata: stable ? m.metadataFor(g.protocolName!) : EMPTY,
      memberAssignment: stable ? m.assignment : EMPTY,
    })),
  };
}

/** Topics the members of a "consumer" protocol group subscribe to (undecodable metadata is skipped). */
export function subscribedTopics(g: Group): Set<string> {
  const topics = new Set<string>();
  if (g.protocolType !== "consumer") return topics;
  for (const m of g.members.values()) {
    for (const p of m.protocols) {
      try {
        const r = new Reader(p.metadata);
        const version = r.i16();
        for (const t of readConsumerProtocolSubscription(r, Math.min(Math.max(version, 0), 3)).topics) topics.add(t);
      } catch {
        // not consumer-protocol metadata after all
      }
    }
  }
  return topics;
}
