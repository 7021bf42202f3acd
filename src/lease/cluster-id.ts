// The cluster id of a replicated pair, agreed through the bucket. Two fresh nodes (empty data dirs, no --cluster-id)
// started at the same moment find no lease yet; each would make up its own id, and the one that loses the lease
// would belong to another cluster for good ("not taking part", and after a restart its data dir no longer matches).
// So a fresh node proposes an id by creating the object <prefix>/cluster with If-None-Match: * (the same
// conditional write the lease relies on, checked at start); of two racing, exactly one creates it, and the other
// reads it back and adopts that id. The object holds JSON { "clusterId": "..." } and is never rewritten.
import type { Logger } from "../logger.ts";
import { clustersPrefix } from "../s3/keys.ts";
import { ObjectNotFound, PreconditionFailed, type ObjectStore } from "../s3/store.ts";

export function clusterKey(prefix: string): string {
  return `${clustersPrefix(prefix)}cluster`;
}

async function readClusterObject(store: ObjectStore, key: string): Promise<string | null> {
  try {
    const { body } = await store.get(key);
    const id = (JSON.parse(Buffer.from(body).toString("utf8")) as { clusterId?: unknown }).clusterId;
    if (typeof id !== "string" || id === "") throw new Error(`${key} in ${store.describe} is not a klite cluster object (no clusterId); remove it or pass --cluster-id`);
    return id;
  } catch (e) {
    if (e instanceof ObjectNotFound) return null;
    if (e instanceof SyntaxError) throw new Error(`${key} in ${store.describe} is not a klite cluster object (not JSON); remove it or pass --cluster-id`);
    throw e;
  }
}

/**
 * The id a fresh replicated node takes: the one in <prefix>/cluster if there is one, else `proposal()` written there
 * first (If-None-Match: *), or, when another node wrote it meanwhile, that node's.
 */
export async function agreeClusterId(store: ObjectStore, prefix: string, proposal: () => Promise<string>, logger: Logger): Promise<string> {
  const key = clusterKey(prefix);
  const existing = await readClusterObject(store, key);
  if (existing !== null) return existing;
  const mine = await proposal();
  try {
    await store.put(key, Buffer.from(JSON.stringify({ clusterId: mine })), { ifNoneMatch: "*" });
    logger.info(`replication: cluster id ${mine} written to ${key} (nodes started on this bucket later join it)`);
    return mine;
  } catch (e) {
    if (!(e instanceof PreconditionFailed)) throw e;
  }
  const theirs = await readClusterObject(store, key);
  if (theirs === null) throw new Error(`${key} in ${store.describe} refused a conditional create but cannot be read`);
  logger.info(`replication: another node wrote cluster id ${theirs} to ${key} first; joining it`);
  return theirs;
}
