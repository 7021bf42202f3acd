// Pod-role labels: the primary carries `klite.io/role=primary` on its own pod, so a Service selecting on that label
// routes Kafka clients to the primary only (both pods stay Ready). On promotion this pod is labelled first, then
// the label is removed from sibling pods (matched by --label-selector) that still carry it, e.g. a primary that
// crashed; on demotion and on graceful stop it is removed from this pod (stop awaits that, before the lease goes).
// A node starts without a role: `start()` removes a label its pod still carries from an earlier run (a container
// restarted after a crash is Ready again within a second, as a standby, and would otherwise draw the Service's new
// connections until the new primary clears it).
//
// Never blocks the broker: promoted/demoted return at once and the patches run in the background, retried with
// backoff until they succeed or a newer role change supersedes them. Role changes are applied one at a time, in
// order, by a single worker; the first failure of a run is logged with the API server's message, later ones at
// debug level until it succeeds.
import type { Logger } from "../logger.ts";
import type { RoleObserver } from "../broker/roles.ts";

export const ROLE_LABEL = "klite.io/role";
export const PRIMARY = "primary";

/** The Kubernetes API as the labeller needs it: pods of one namespace. */
export interface PodLabels {
  /** Sets (a string) or removes (null) labels of a pod with a JSON merge patch. A missing pod is a PodNotFound. */
  patchLabels(pod: string, labels: Record<string, string | null>): Promise<void>;
  /** Names of the pods matching a label selector (`k=v,k2=v2`). */
  listPods(labelSelector: string): Promise<string[]>;
  /** A pod's labels. A missing pod is a PodNotFound. */
  podLabels(pod: string): Promise<Record<string, string>>;
  /** For log lines: the namespace and the API server. */
  readonly describe: string;
}

export class PodNotFound extends Error {
  override name = "PodNotFound";
}

export interface LabellerOptions {
  pod: string;
  /** Selects this broker's sibling pods (the StatefulSet's); empty: no stale labels are removed on promotion. */
  siblingSelector: string;
  /** First retry delay; doubles up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** How long `stopping` keeps retrying the removal before it gives up (the broker bounds it too). */
  stopTimeoutMs?: number;
}

/** primary: labelled; none: not labelled; clear: not labelled, said only if a stale label was there. */
type Want = "primary" | "none" | "clear";

export class PodRoleLabeller implements RoleObserver {
  private want: Want | null = null;
  /** Bumped on every role change: a run for an older generation stops at its next step. */
  private generation = 0;
  private running = false;
  private worker: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private closed = false;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly stopTimeoutMs: number;

  constructor(
    private readonly api: PodLabels,
    private readonly opts: LabellerOptions,
    private readonly logger: Logger,
  ) {
    this.initialBackoffMs = opts.initialBackoffMs ?? 200;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
  }

  /** At process start, before any role: removes a stale label of an earlier run (unless a role came first). */
  start(): void {
    if (this.want === null) this.set("clear");
  }

  promoted(): void {
    this.set("primary");
  }

  demoted(): void {
    this.set("none");
  }

  /** Removes this pod's label; resolves once it is gone, or after stopTimeoutMs of failed attempts. */
  async stopping(): Promise<void> {
    this.set("none");
    const done = this.settled();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), this.stopTimeoutMs)));
    const ok = await Promise.race([done.then(() => true), timeout]);
    clearTimeout(timer);
    this.closed = true;
    this.generation++; // a run still retrying stops at its next step
    this.wake?.();
    if (!ok) this.logger.warn(`pod ${this.opts.pod}: ${ROLE_LABEL} label not removed within ${this.stopTimeoutMs} ms; the next primary removes it`);
  }

  /** Resolves when every role change so far has been applied (or abandoned on stop). */
  async settled(): Promise<void> {
    while (this.running) await this.worker;
  }

  private set(want: Want): void {
    if (this.closed) return;
    this.want = want;
    this.generation++;
    this.wake?.(); // cut a backoff short: the new role is applied now
    if (!this.running) {
      this.running = true;
      this.worker = this.run();
    }
  }

  /** The single worker. `running` is cleared in the same synchronous step that decides to exit, so a role change
   * either sees it running (and is picked up by its loop) or starts a new one. */
  private async run(): Promise<void> {
    let attempt = 0;
    let failures = 0;
    let last: Want | null = null;
    while (!this.closed) {
      const gen = this.generation;
      const want = this.want!;
      if (want !== last) {
        // A new role: its first failure is worth a warning of its own.
        attempt = 0;
        failures = 0;
        last = want;
      }
      try {
        await this.apply(want, gen);
        if (failures > 0) this.logger.info(`pod ${this.opts.pod}: ${want === "primary" ? "labelled" : "unlabelled"} ${ROLE_LABEL} after ${failures + 1} attempts`);
        if (gen === this.generation) break;
        attempt = 0; // a newer role change arrived meanwhile: apply it
        failures = 0;
      } catch (e) {
        if (gen !== this.generation) {
          attempt = 0;
          continue;
        }
        failures++;
        const msg = `pod ${this.opts.pod}: could not ${want === "primary" ? "set" : want === "clear" ? "check for a stale" : "remove"} ${ROLE_LABEL}=${PRIMARY} (${this.api.describe}): ${(e as Error).message}; retrying`;
        if (failures === 1) this.logger.warn(msg);
        else this.logger.debug(`${msg} (attempt ${failures})`);
        await this.sleep(Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** attempt++) * (0.75 + Math.random() / 2));
      }
    }
    this.running = false;
  }

  /** One attempt at a role; throws on an API failure. Stops early (quietly) when a newer change superseded it. */
  private async apply(want: Want, gen: number): Promise<void> {
    const { pod, siblingSelector } = this.opts;
    if (want === "clear") {
      if ((await this.api.podLabels(pod))[ROLE_LABEL] === undefined || gen !== this.generation) return;
      await this.api.patchLabels(pod, { [ROLE_LABEL]: null });
      this.logger.info(`pod ${pod}: removed the ${ROLE_LABEL}=${PRIMARY} label an earlier run left (this node starts without a role)`);
      return;
    }
    if (want === "none") {
      await this.api.patchLabels(pod, { [ROLE_LABEL]: null });
      this.logger.info(`pod ${pod}: removed ${ROLE_LABEL}=${PRIMARY}`);
      return;
    }
    await this.api.patchLabels(pod, { [ROLE_LABEL]: PRIMARY });
    this.logger.info(`pod ${pod}: labelled ${ROLE_LABEL}=${PRIMARY}`);
    if (!siblingSelector || gen !== this.generation) return;
    // Await points: a demotion arriving meanwhile bumps the generation; the loop below then stops.
    const stale = (await this.api.listPods(`${siblingSelector},${ROLE_LABEL}=${PRIMARY}`)).filter((p) => p !== pod);
    for (const other of stale) {
      if (gen !== this.generation) return;
      try {
        await this.api.patchLabels(other, { [ROLE_LABEL]: null });
        this.logger.info(`pod ${other}: removed its stale ${ROLE_LABEL}=${PRIMARY} (this pod, ${pod}, is the primary)`);
      } catch (e) {
        if (!(e instanceof PodNotFound)) throw e; // deleted meanwhile: its label is gone with it
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
