// Keeps garbage from piling up past the budget. JavaScriptCore runs a full collection once the heap has grown by a
// multiple of what was live after the last one, and what is live here is mostly the chunk pool's slabs (hundreds of
// MiB, held for good): so buffers that died after a young-generation collection (requests and socket chunks that
// were in flight at the time) could pile up to about the pool's size again before anyone freed them, twice the
// memory the broker needs. Twice a second this compares the resident set with what the broker's pools hold; when
// garbage passes half of that it asks for a full collection (run concurrently when the collector gets to it), and
// when the resident set nears --memory-limit it runs one at once (at most one every two seconds either way).
import type { Logger } from "../logger.ts";
import type { MemoryPlan } from "./budget.ts";

const CHECK_MS = 500;
const MIN_GAP_MS = 2_000;
/** Code, JIT and the heap of small objects: what the runtime holds besides the pools. */
const RUNTIME_BYTES = 96 * 1024 * 1024;

export interface Watchdog {
  /** Full collections asked for so far. */
  readonly collections: number;
  stop(): void;
}

/** `held`: bytes the pools hold now (chunk pool slabs, read pages, requests in flight). */
export function startMemoryWatchdog(
  plan: MemoryPlan,
  held: () => number,
  logger: Logger,
  opts: { rss?: () => number; checkMs?: number; minGapMs?: number } = {},
): Watchdog {
  const rss = opts.rss ?? (() => process.memoryUsage.rss());
  const gap = opts.minGapMs ?? MIN_GAP_MS;
  let last = 0;
  let collections = 0;
  const t = setInterval(() => {
    const now = performance.now();
    if (now - last < gap) return;
    const resident = rss();
    const live = held() + RUNTIME_BYTES;
    if (resident < live * 1.5 && resident < plan.bytes * 0.9) return;
    last = now;
    collections++;
    // Near the limit the collection runs now (a pause of some 20 ms with a heap of hundreds of MiB), rather than an
    // OOM kill; otherwise it is only asked for, and runs concurrently when the collector gets to it.
    const urgent = resident >= plan.bytes * 0.9;
    Bun.gc(urgent);
    logger.debug(`memory: resident ${Math.round(resident / 2 ** 20)} MiB against ${Math.round(live / 2 ** 20)} MiB held (limit ${Math.round(plan.bytes / 2 ** 20)} MiB): full collection ${urgent ? "run" : "requested"}`);
  }, opts.checkMs ?? CHECK_MS);
  t.unref?.();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(t),
  };
}
