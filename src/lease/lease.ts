// The S3 lease that decides which node of a replicated pair is primary (DESIGN.md §5). One object, <prefix>/lease
// (beside the clusters, so every node started on the bucket and prefix competes for the same one), holding JSON:
//
//   { "clusterId": "...", "holder": "<replication id>", "epoch": 7, "addr": "host:port",
//     "kafka": { "nodeId": 1, "host": "...", "port": 9092 },
//     "inSync": [ { "id": "<replication id>", "stream": "<stream id>" } ],
//     "released": false, "flushed": false, "renewedAt": "2026-12-01T10:00:00.000Z" }
//
// holder/epoch: the primary and its term; every takeover writes epoch + 1, and frames and renewals of an older epoch
// are refused. addr: where its standby connects (replication), kafka: where clients find it. inSync: the standby that
// holds every acknowledged record, written before the primary acknowledges anything without it (so only a node listed
// here, or the holder itself, may take over). released: the holder stopped gracefully (take over now, no waiting);
// flushed: and everything was in S3 first (any node may take over, restoring from the bucket). renewedAt is for people
// reading the object: no decision ever uses a wall-clock time from it.
//
// Every write is conditional: creating with If-None-Match: *, everything else with If-Match on the ETag read or
// written last, so of two nodes racing exactly one wins. Expiry is judged on the observer's own monotonic clock: the
// same ETag seen unchanged for --lease-duration. The holder counts its lease valid until --lease-duration (less a
// safety margin) after the START of its last successful write: an observer cannot have seen that write any earlier.
import type { Logger } from "../logger.ts";
import { clustersPrefix } from "../s3/keys.ts";
import { ObjectNotFound, PreconditionFailed, type ObjectStore } from "../s3/store.ts";

export interface LeaseBody {
  clusterId: string;
  holder: string;
  epoch: number;
  addr: string;
  kafka: { nodeId: number; host: string; port: number };
  inSync: { id: string; stream: string }[];
  released: boolean;
  flushed: boolean;
  renewedAt: string;
}

export interface Observed {
  body: LeaseBody;
  etag: string;
}

/** A monotonic clock in milliseconds (performance.now in the broker; tests move their own). */
export interface Clock {
  now(): number;
}

export const monotonic: Clock = { now: () => performance.now() };

/** Another node wrote the lease first (412 / 404 on a conditional write). */
export class LeaseTaken extends Error {
  override name = "LeaseTaken";
}

/** The lease object holds something that is not a lease. */
export class LeaseFormatError extends Error {
  override name = "LeaseFormatError";
}

export function leaseKey(prefix: string): string {
  return `${clustersPrefix(prefix)}lease`;
}

function parse(bytes: Uint8Array, key: string): LeaseBody {
  let b: Partial<LeaseBody>;
  try {
    b = JSON.parse(Buffer.from(bytes).toString("utf8")) as Partial<LeaseBody>;
  } catch {
    throw new LeaseFormatError(`${key} is not a klite lease (not JSON)`);
  }
  if (typeof b.holder !== "string" || typeof b.epoch !== "number" || typeof b.clusterId !== "string" || typeof b.addr !== "string" || !Array.isArray(b.inSync)) {
    throw new LeaseFormatError(`${key} is not a klite lease (fields missing)`);
  }
  return {
    clusterId: b.clusterId,
    holder: b.holder,
    epoch: b.epoch,
    addr: b.addr,
    kafka: b.kafka ?? { nodeId: -1, host: "", port: 0 },
    inSync: b.inSync,
    released: b.released === true,
    flushed: b.flushed === true,
    renewedAt: typeof b.renewedAt === "string" ? b.renewedAt : "",
  };
}

/** The lease object: reads and conditional writes. */
export class LeaseObject {
  constructor(
    readonly store: ObjectStore,
    readonly key: string,
  ) {}

  async read(): Promise<Observed | null> {
    try {
      const { body, etag } = await this.store.get(this.key);
      return { body: parse(body, this.key), etag };
    } catch (e) {
      if (e instanceof ObjectNotFound) return null;
      throw e;
    }
  }

  /** Writes the first lease; LeaseTaken when one exists. */
  async create(body: LeaseBody): Promise<Observed> {
    return this.write(body, { ifNoneMatch: "*" });
  }

  /** Replaces the lease read (or written) as `prev`; LeaseTaken when someone else wrote it since. */
  async replace(prev: Observed, body: LeaseBody): Promise<Observed> {
    return this.write(body, { ifMatch: prev.etag });
  }

  private async write(body: LeaseBody, cond: { ifMatch?: string; ifNoneMatch?: "*" }): Promise<Observed> {
    const stamped = { ...body, renewedAt: new Date().toISOString() };
    try {
      const { etag } = await this.store.put(this.key, Buffer.from(JSON.stringify(stamped)), cond);
      return { body: stamped, etag };
    } catch (e) {
      if (e instanceof PreconditionFailed || e instanceof ObjectNotFound) throw new LeaseTaken(`the lease ${this.key} was written by another node (${(e as Error).message})`);
      throw e;
    }
  }
}

/**
 * A standby's view of the lease: when it last changed, on this node's monotonic clock. Expired once the same ETag
 * was seen for the whole lease duration (or the holder released it).
 */
export class LeaseWatcher {
  private etag: string | null = null;
  private since = 0;
  current: Observed | null = null;

  constructor(
    private readonly durationMs: number,
    private readonly clock: Clock = monotonic,
  ) {}

  observe(o: Observed | null): void {
    this.current = o;
    const etag = o?.etag ?? null;
    if (etag !== this.etag) {
      this.etag = etag;
      this.since = this.clock.now();
    }
  }

  /** How long the current lease has been seen unchanged. */
  get unchangedMs(): number {
    return this.clock.now() - this.since;
  }

  expired(): boolean {
    const o = this.current;
    if (!o) return true;
    return o.body.released || this.unchangedMs >= this.durationMs;
  }
}

export interface HeldLeaseOptions {
  durationMs: number;
  renewIntervalMs: number;
  clock?: Clock;
}

/**
 * The primary's lease: renewed every renew interval, changed (in-sync list, release) through the same chain of
 * conditional writes. Valid until the lease duration, less a margin for clock rates, after the start of the last
 * successful write; after that, or on a 412, it is lost for good and `onLost` runs (once).
 */
export class HeldLease {
  private last: Observed;
  private validUntil: number;
  private chain: Promise<unknown> = Promise.resolve();
  private renewTimer: ReturnType<typeof setTimeout> | null = null;
  private expiryTimer: ReturnType<typeof setTimeout> | null = null;
  private lostReason: string | null = null;
  private stopped = false;
  private readonly clock: Clock;
  private readonly marginMs: number;

  constructor(
    private readonly obj: LeaseObject,
    acquired: Observed,
    /** Monotonic time at which the write that acquired it started. */
    acquiredAt: number,
    private readonly opts: HeldLeaseOptions,
    private readonly logger: Logger,
    private readonly onLost: (reason: string) => void,
  ) {
    this.clock = opts.clock ?? monotonic;
    this.marginMs = Math.min(1000, opts.durationMs / 10);
    this.last = acquired;
    this.validUntil = acquiredAt + opts.durationMs - this.marginMs;
    this.armExpiry();
    this.scheduleRenew(opts.renewIntervalMs);
  }

  get epoch(): number {
    return this.last.body.epoch;
  }

  get body(): LeaseBody {
    return this.last.body;
  }

  /** Whether this node may still act as primary right now (checked before every acknowledgement). */
  valid(now = this.clock.now()): boolean {
    return this.lostReason === null && now < this.validUntil;
  }

  get lost(): string | null {
    return this.lostReason;
  }

  /** Changes the lease (serialized with renewals); resolves once written, rejects if the write failed. */
  update(change: (b: LeaseBody) => LeaseBody): Promise<void> {
    const run = this.chain.then(() => this.write(change));
    this.chain = run.catch(() => {});
    return run;
  }

  /** Lets the lease go for the next primary (graceful stop). No renewals after this. */
  async release(change: (b: LeaseBody) => LeaseBody): Promise<void> {
    this.stop();
    await this.update((b) => ({ ...change(b), released: true }));
  }

  /** Stops renewing (the lease then expires on its own). */
  stop(): void {
    this.stopped = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.renewTimer = this.expiryTimer = null;
  }

  private async write(change: (b: LeaseBody) => LeaseBody): Promise<void> {
    if (this.lostReason) throw new LeaseTaken(`the lease is lost: ${this.lostReason}`);
    const started = this.clock.now();
    try {
      this.last = await this.obj.replace(this.last, change(this.last.body));
    } catch (e) {
      if (e instanceof LeaseTaken) this.lose(`another node wrote the lease (${(e as Error).message})`);
      throw e;
    }
    if (this.lostReason) return;
    this.validUntil = Math.max(this.validUntil, started + this.opts.durationMs - this.marginMs);
    this.armExpiry();
  }

  private scheduleRenew(ms: number): void {
    if (this.stopped || this.lostReason) return;
    this.renewTimer = setTimeout(() => {
      this.update((b) => b).then(
        () => this.scheduleRenew(this.opts.renewIntervalMs),
        (e: Error) => {
          if (this.lostReason) return;
          // S3 trouble: try again soon; the lease stays valid until validUntil regardless.
          this.logger.warn(`lease renewal failed, retrying (valid for ${Math.max(0, Math.round(this.validUntil - this.clock.now()))} ms more): ${e.message}`);
          this.scheduleRenew(Math.min(1000, this.opts.renewIntervalMs));
        },
      );
    }, ms);
    this.renewTimer.unref?.();
  }

  private armExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.stopped) return;
    this.expiryTimer = setTimeout(() => {
      if (this.clock.now() >= this.validUntil) this.lose(`not renewed for a whole lease duration (${this.opts.durationMs} ms)`);
      else this.armExpiry();
    }, Math.max(1, this.validUntil - this.clock.now()));
    this.expiryTimer.unref?.();
  }

  private lose(reason: string): void {
    if (this.lostReason) return;
    this.lostReason = reason;
    this.stop();
    this.onLost(reason);
  }
}
