// What the connections may hold together, and the connection caps. Every connection draws from one ServerBudget:
//   - read pages (memory/pages.ts): fetch responses in flight, a pool of its own, at most readsPerConnection each;
//   - response bytes queued for clients (pages included): at most readsPerConnection per connection, and when all
//     connections' together pass the reads share, a connection with anything queued takes no new request;
//   - request bytes in flight (received, not yet answered): at most requests/4 per connection, and past the requests
//     share a connection with a request in flight takes no new one.
// A connection with nothing queued and nothing in flight may always take one request, so every client progresses and
// the total stays within the budget plus one request and one response per connection (--max-connections bounds that).
// A connection that takes no new requests is not read from (its socket is paused), so a client that does not read
// its responses ends up blocked by TCP, not by the broker's memory.
import type { FdBudget } from "./fd-budget.ts";
import type { MemoryPlan } from "../memory/budget.ts";
import { PagePool } from "../memory/pages.ts";
import type { Logger } from "../logger.ts";

export class ServerBudget {
  readonly pages: PagePool;
  readonly perConnection: number;
  readonly requestsPerConnection: number;
  /** Response bytes queued over all connections. */
  queuedBytes = 0;
  /** Request bytes in flight over all connections. */
  requestBytes = 0;
  private waiting = new Set<() => void>();
  private notifying = false;

  constructor(readonly plan: MemoryPlan) {
    this.pages = new PagePool(plan.reads);
    this.perConnection = plan.readsPerConnection;
    this.requestsPerConnection = Math.max(1024 * 1024, Math.floor(plan.requests / 4));
  }

  get responsesFull(): boolean {
    return this.queuedBytes >= this.plan.reads || this.pages.inUse >= this.plan.reads;
  }

  get requestsFull(): boolean {
    return this.requestBytes >= this.plan.requests;
  }

  /** `retry` runs once the shared budget has room again (a connection waiting to take a request). */
  wait(retry: () => void): void {
    this.waiting.add(retry);
  }

  forget(retry: () => void): void {
    this.waiting.delete(retry);
  }

  /** Something was given back: let the waiting connections try again (once per turn). */
  changed(): void {
    if (this.waiting.size === 0 || this.notifying) return;
    this.notifying = true;
    queueMicrotask(() => {
      this.notifying = false;
      const w = [...this.waiting];
      this.waiting.clear();
      for (const fn of w) fn();
    });
  }
}

/** --max-connections and --max-connections-per-ip: admits or refuses a new connection, logging when a cap bites. */
export class ConnectionCaps {
  private total = 0;
  private readonly perIp = new Map<string, number>();
  private lastLog = 0;
  private refusedSinceLog = 0;

  /** The open-files limit's room for connections (fd-budget.ts), null when it is not known. */
  fds: FdBudget | null = null;

  constructor(private readonly max: number, private readonly maxPerIp: number, private readonly logger: Logger) {}

  get open(): number {
    return this.total;
  }

  /** true: admitted (call release() when it closes). false: refused, with a log line (at most one per 10 s). */
  admit(ip: string): boolean {
    const n = this.perIp.get(ip) ?? 0;
    let why: string | null = null;
    if (this.total >= this.max) why = `--max-connections ${this.max} reached`;
    else if (this.maxPerIp > 0 && n >= this.maxPerIp) why = `${ip} already has --max-connections-per-ip ${this.maxPerIp} connections`;
    else if (this.fds !== null && this.total >= this.fds.connections) why = `the ${this.fds.describe()} (raise ulimit -n for more)`;
    if (why !== null) {
      this.refusedSinceLog++;
      const now = Date.now();
      if (now - this.lastLog >= 10_000) {
        this.logger.warn(`refusing connection from ${ip}: ${why}${this.refusedSinceLog > 1 ? ` (${this.refusedSinceLog} refused since the last such line)` : ""}`);
        this.lastLog = now;
        this.refusedSinceLog = 0;
      }
      return false;
    }
    this.total++;
    this.perIp.set(ip, n + 1);
    return true;
  }

  release(ip: string): void {
    this.total--;
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }
}
