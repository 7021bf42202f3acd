// Where things live in the bucket (DESIGN.md §4). Everything of one cluster sits under one root:
//
//   <root>               = "<s3-prefix>/klite-<clusterId>/", or "klite-<clusterId>/" when the prefix is empty
//                          (no leading slash: S3 keys never start with one; slashes around --s3-prefix are trimmed)
//   <root>metadata.log   the metadata log snapshot (topics, configs, offsets, producer state, S3 objects)
//   <root><topic>-<32 hex topic id>/<partition>/<20-digit base offset>.obj   one data object (format in object.ts)
//
// The zero-padded base offset makes the lexical key order the offset order, so a listing is already sorted.

export function clusterRoot(prefix: string, clusterId: string): string {
  const p = prefix.replace(/^\/+|\/+$/g, "");
  return `${p ? `${p}/` : ""}klite-${clusterId}/`;
}

/** The prefix under which clusters live ("" or "<prefix>/"), for finding a cluster id in the bucket. */
export function clustersPrefix(prefix: string): string {
  const p = prefix.replace(/^\/+|\/+$/g, "");
  return p ? `${p}/` : "";
}

export function metadataKey(root: string): string {
  return `${root}metadata.log`;
}

export function partitionPrefix(root: string, topic: string, topicId: string, partition: number): string {
  return `${root}${topic}-${topicId}/${partition}/`;
}

export function topicPrefix(root: string, topic: string, topicId: string): string {
  return `${root}${topic}-${topicId}/`;
}

export function objectKey(partitionPrefix: string, baseOffset: number): string {
  return `${partitionPrefix}${String(baseOffset).padStart(20, "0")}.obj`;
}

/** The base offset in a data object key, or null when the key is not one. */
export function baseOffsetOfKey(key: string): number | null {
  const m = /\/(\d{20})\.obj$/.exec(key);
  return m ? Number(m[1]) : null;
}

/** "klite-<id>/" (as listed under clustersPrefix) → the cluster id, or null. */
export function clusterIdOfPrefix(listed: string, under: string): string | null {
  const m = /^klite-([A-Za-z0-9_-]{1,64})\/$/.exec(listed.slice(under.length));
  return m ? m[1]! : null;
}
