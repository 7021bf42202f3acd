// Replicated mode, a node whose WAL is damaged where the S3 tier does not hold the records (issue 12 "Corruption":
// the damaged range comes back from S3 or from the standby). The peer holds every acknowledged record when the lease
// names it as the holder (it is or was the primary, and took over only with everything acknowledged) or lists it in
// sync with this node's stream (nothing was acknowledged without it). Then this node must neither serve nor take the
// lease with the hole: it moves its WAL aside (<data-dir>/wal.damaged-<time>, kept for a look), forgets that its data
// follows a stream or that it was primary (replication.json: it may not take over with it), and starts as a standby
// with an empty WAL, so its first session with the primary is a full one that copies everything back. Otherwise the
// start is refused as without a peer, saying why the peer does not help (or, with --accept-data-loss, the range is
// marked lost as without a peer).
import { renameSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import { LeaseObject, leaseKey, type LeaseBody } from "../lease/lease.ts";
import { DataLossError } from "../meta/meta-recovery.ts";
import { WalDataLossError } from "../log/damage.ts";
import type { MemoryPlan } from "../memory/budget.ts";
import { readTerm, writeTerm } from "../repl/term.ts";
import { recover, walDir, type Rooms } from "./wiring-rooms.ts";
import type { Bucket } from "./wiring-s3.ts";

/** Which peer holds everything this node acknowledged, by the lease; or why none does. */
export function peerHolding(lease: LeaseBody | null, self: string, clusterId: string): { peer: string } | { why: string } {
  if (!lease) return { why: "there is no lease in the bucket, so no peer is known to hold them" };
  if (lease.clusterId !== clusterId) return { why: `the lease belongs to cluster ${lease.clusterId}` };
  if (lease.holder !== self) return { peer: lease.holder };
  const other = lease.inSync.find((s) => s.id !== self);
  if (other) return { peer: other.id };
  return { why: `this node held the lease last (epoch ${lease.epoch}) with no standby in sync, so the peer does not hold them either` };
}

/** Moves the damaged WAL aside (<data-dir>/wal.damaged-<time>, kept for a look); returns where it went. */
export function setWalAside(dataDir: string): string {
  const aside = join(dataDir, `wal.damaged-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  renameSync(walDir(dataDir), aside);
  return aside;
}

/** recover() for a node of a replicated pair: WAL damage the peer can make good is left to it (see above). */
export async function recoverReplicated(config: Config, dataDir: string, bucket: Bucket, clusterId: string, logger: Logger, memory: MemoryPlan): Promise<Rooms> {
  try {
    return await recover({ ...config, acceptDataLoss: false }, dataDir, bucket, clusterId, logger, memory);
  } catch (e) {
    if (!(e instanceof DataLossError)) throw e;
    // Damage elsewhere (the metadata log) is as without a peer: accepted with the flag, else refused.
    if (!(e instanceof WalDataLossError)) {
      if (config.acceptDataLoss) return recover(config, dataDir, bucket, clusterId, logger, memory);
      throw e;
    }
    const self = config.replicationId ?? hostname();
    const lease = await new LeaseObject(bucket.store, leaseKey(config.s3!.prefix)).read();
    const holding = peerHolding(lease?.body ?? null, self, clusterId);
    if ("why" in holding) {
      if (config.acceptDataLoss) return recover(config, dataDir, bucket, clusterId, logger, memory);
      throw new DataLossError(`${e.message} Replicated mode: ${holding.why}.`);
    }
    const aside = setWalAside(dataDir);
    const term = readTerm(dataDir);
    writeTerm(dataDir, { ...term, primaryEpoch: null, token: null, synced: null });
    logger.error(
      `${e.found} The peer ${holding.peer} holds them: this node starts as a standby with an empty WAL and ` +
        `copies everything from the primary (a full resync); it will not take over the lease until that is done. The damaged WAL was moved to ${aside} (delete it once this node is in sync).`,
    );
    return recover(config, dataDir, bucket, clusterId, logger, memory);
  }
}
