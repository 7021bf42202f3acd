// The group rooms' metadata-log records (see meta/records.ts for how records are typed and decoded).
// Coordinator:
//   group          {id, protocolType, protocol, generation, leader, at, members}  the group after a completed
//                  rebalance or when it became empty; members: {id, instance, clientId, clientHost, session,
//                  rebalance, metadata (base64), assignment (base64)}. `at` (state change time) may be missing in
//                  records written before it existed.
//   group-deleted  {id}
// Offset store:
//   offset          {g, t, p, o, e, m, ts}   group g committed offset o (leader epoch e, metadata m) at time ts
//   offset-deleted  {g, t?, p?}              one partition's offset, or with no t the whole group's
import { MetaRecordError, int, intOr, list, nested, str, strOrNull, type RawRecord } from "../meta/records.ts";

export interface StoredMember {
  id: string;
  instance: string | null;
  clientId: string;
  clientHost: string;
  session: number;
  rebalance: number;
  /** base64 */
  metadata: string;
  /** base64 */
  assignment: string;
}

export type GroupRecord =
  | { type: "group"; id: string; protocolType: string | null; protocol: string | null; generation: number; leader: string | null; at?: number; members: StoredMember[] }
  | { type: "group-deleted"; id: string };

export type OffsetRecord =
  | { type: "offset"; g: string; t: string; p: number; o: number; e: number; m: string; ts: number }
  | { type: "offset-deleted"; g: string; t?: string; p?: number };

export const GROUP_RECORD_TYPES = ["group", "group-deleted"] as const satisfies readonly GroupRecord["type"][];
export const OFFSET_RECORD_TYPES = ["offset", "offset-deleted"] as const satisfies readonly OffsetRecord["type"][];

function member(r: RawRecord, v: unknown): StoredMember {
  const m = nested(r, "members", v);
  return {
    id: str(m, "id"),
    instance: strOrNull(m, "instance"),
    clientId: str(m, "clientId"),
    clientHost: str(m, "clientHost"),
    session: int(m, "session"),
    rebalance: int(m, "rebalance"),
    metadata: str(m, "metadata"),
    assignment: str(m, "assignment"),
  };
}

export function decodeGroupRecord(r: RawRecord): GroupRecord {
  switch (r.type) {
    case "group": {
      const at = intOr(r, "at", undefined);
      return {
        type: "group",
        id: str(r, "id"),
        protocolType: strOrNull(r, "protocolType"),
        protocol: strOrNull(r, "protocol"),
        generation: int(r, "generation"),
        leader: strOrNull(r, "leader"),
        ...(at === undefined ? {} : { at }),
        members: list(r, "members", (v) => member(r, v), "members"),
      };
    }
    case "group-deleted":
      return { type: "group-deleted", id: str(r, "id") };
  }
  throw new MetaRecordError(`not a group record: ${r.type}`);
}

export function decodeOffsetRecord(r: RawRecord): OffsetRecord {
  switch (r.type) {
    case "offset":
      return { type: "offset", g: str(r, "g"), t: str(r, "t"), p: int(r, "p"), o: int(r, "o"), e: int(r, "e"), m: str(r, "m"), ts: int(r, "ts") };
    case "offset-deleted": {
      if (r.t === undefined) return { type: "offset-deleted", g: str(r, "g") };
      return { type: "offset-deleted", g: str(r, "g"), t: str(r, "t"), p: int(r, "p") };
    }
  }
  throw new MetaRecordError(`not an offset record: ${r.type}`);
}
