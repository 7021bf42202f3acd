// The catalog's metadata-log records (see records.ts for how records are typed and decoded):
//   topic          {name, id, partitions, configs}   a topic was created (configs: the explicitly set ones)
//   topic-deleted  {id}
//   topic-configs  {id, configs}                     the topic's explicit configs were replaced
//   partitions     {id, partitions}                  the partition count grew
//   producer-ids   {limit}                           producer ids below limit are reserved
//   broker-configs {node, configs}                   the dynamic broker configs of broker `node` ("": the cluster
//                                                    default) were replaced (see broker-configs.ts)
import type { Uuid } from "../protocol/codec.ts";
import { MetaRecordError, int, str, stringMap, type RawRecord } from "./records.ts";

export type CatalogRecord =
  | { type: "topic"; name: string; id: Uuid; partitions: number; configs: Record<string, string> }
  | { type: "topic-deleted"; id: Uuid }
  | { type: "topic-configs"; id: Uuid; configs: Record<string, string> }
  | { type: "partitions"; id: Uuid; partitions: number }
  | { type: "producer-ids"; limit: number }
  | { type: "broker-configs"; node: string; configs: Record<string, string> };

export const CATALOG_RECORD_TYPES = ["topic", "topic-deleted", "topic-configs", "partitions", "producer-ids", "broker-configs"] as const satisfies readonly CatalogRecord["type"][];

export function decodeCatalogRecord(r: RawRecord): CatalogRecord {
  switch (r.type) {
    case "topic":
      return { type: "topic", name: str(r, "name"), id: str(r, "id"), partitions: int(r, "partitions"), configs: stringMap(r, "configs") };
    case "topic-deleted":
      return { type: "topic-deleted", id: str(r, "id") };
    case "topic-configs":
      return { type: "topic-configs", id: str(r, "id"), configs: stringMap(r, "configs") };
    case "partitions":
      return { type: "partitions", id: str(r, "id"), partitions: int(r, "partitions") };
    case "producer-ids":
      return { type: "producer-ids", limit: int(r, "limit") };
    case "broker-configs":
      return { type: "broker-configs", node: str(r, "node"), configs: stringMap(r, "configs") };
  }
  throw new MetaRecordError(`not a catalog record: ${r.type}`);
}
