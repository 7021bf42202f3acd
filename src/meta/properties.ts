// <data-dir>/meta.properties: the cluster id and node id this data directory belongs to, in Kafka's
// key=value format. Written once (atomically, fsync'd) on first start; a later start with a different
// --cluster-id or --node-id is refused rather than mixing two clusters' data.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileDurably } from "./durable-file.ts";

export interface MetaProperties {
  clusterId: string;
  nodeId: number;
}

export class MetaPropertiesError extends Error {
  override name = "MetaPropertiesError";
}

/** A Kafka-style cluster id: a random UUID in URL-safe base64 without padding (22 characters). */
export function newClusterId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64url");
}

export function loadOrCreateMetaProperties(dataDir: string, wanted: { clusterId: string | null; nodeId: number }): MetaProperties {
  const path = join(dataDir, "meta.properties");
  if (existsSync(path)) {
    const props = new Map<string, string>();
    for (const line of readFileSync(path, "utf8").split("\n")) {
      const m = /^\s*([^#=\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(line);
      if (m) props.set(m[1]!, m[2]!);
    }
    const clusterId = props.get("cluster.id");
    const nodeId = Number(props.get("node.id"));
    if (!clusterId || !Number.isInteger(nodeId)) throw new MetaPropertiesError(`${path} is missing cluster.id or node.id`);
    if (wanted.clusterId && wanted.clusterId !== clusterId) {
      throw new MetaPropertiesError(`--cluster-id ${wanted.clusterId} does not match cluster.id ${clusterId} in ${path}; refusing to mix clusters' data`);
    }
    if (wanted.nodeId !== nodeId) {
      throw new MetaPropertiesError(`--node-id ${wanted.nodeId} does not match node.id ${nodeId} in ${path}`);
    }
    return { clusterId, nodeId };
  }
  const mp = { clusterId: wanted.clusterId ?? newClusterId(), nodeId: wanted.nodeId };
  writeFileDurably(path, `#klite\nversion=1\ncluster.id=${mp.clusterId}\nnode.id=${mp.nodeId}\n`);
  return mp;
}
