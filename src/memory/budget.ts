// The broker's memory budget: one number bounds what klite holds, split into the pools that hold data.
//
// The limit is --memory-limit when given; else what the container allows (cgroup v2 memory.max, cgroup v1
// memory.limit_in_bytes, the smallest on the way up the hierarchy) less headroom for the runtime's own needs outside
// the pools (code, JIT, GC slack, kernel socket buffers charged to the cgroup); else a quarter of the machine's memory.
// Of the limit:
//   chunk pool  recently written batches (tail reads; with S3 the data not yet flushed): --chunk-pool-memory, else
//               a quarter of the limit up to 512 MiB. At most half the limit.
//   reads       fetch responses in flight: the pages batches are read into from memory, the WAL and S3, held until
//               the socket has taken them (memory/pages.ts). A quarter of the limit. One connection may hold at most a
//               quarter of it (up to 64 MiB, which still fits a whole fetch.max.bytes response of 55 MiB); past that
//               its fetches wait or return less and the broker stops reading its requests.
//   requests    request bytes received and not yet answered (a produce waiting for its fsync holds its batches). An
//               eighth of the limit; past it, connections with requests in flight are not read from.
//   footers     the S3 footer cache: a thirty-second of the limit, up to 64 MiB.
// The rest (about 3/8) is the runtime: the executable, the heap of indexes and groups, and garbage not yet collected.
import { readFileSync } from "node:fs";
import { totalmem } from "node:os";

const MiB = 1024 * 1024;
/** Anything at or above this is "no limit" (cgroup v1 writes 2^63 rounded down to the page size). */
const UNLIMITED = 2 ** 60;

export interface MemoryLimit {
  bytes: number;
  /** Where it came from, for the startup line. */
  source: string;
}

export interface MemoryPlan extends MemoryLimit {
  chunkPool: number;
  reads: number;
  readsPerConnection: number;
  requests: number;
  footers: number;
}

/** Where the limit is looked up: the files (absolute paths; null when unreadable) and the machine's memory. */
export interface SystemView {
  read(path: string): string | null;
  totalMemory: number;
}

export const systemView: SystemView = {
  read(path) {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return null;
    }
  },
  totalMemory: totalmem(),
};

export class MemoryBudgetError extends Error {
  override name = "MemoryBudgetError";
}

export function formatBytes(n: number): string {
  if (n >= 1024 * MiB && n % (64 * MiB) === 0) return `${+(n / (1024 * MiB)).toFixed(2)} GiB`;
  if (n >= MiB) return `${Math.round(n / MiB)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

function numeric(s: string | null): number | null {
  if (s === null) return null;
  const t = s.trim();
  if (!/^\d+$/.test(t)) return null; // "max" (v2) or garbage
  const n = Number(t);
  return n > 0 && n < UNLIMITED ? n : null;
}

/** Directories from `dir` up to (and including) `root`. */
function upTo(root: string, rel: string): string[] {
  const parts = rel.split("/").filter(Boolean);
  const out: string[] = [];
  for (let i = parts.length; i >= 0; i--) out.push([root, ...parts.slice(0, i)].join("/"));
  return out;
}

/**
 * The container's memory limit from the cgroup files, or null when there is none. In a cgroup namespace the
 * process's path ("/") names the mount root itself; without one the path is looked up under the mount, and where
 * it does not exist there (a v1 container sees only its own cgroup at the mount) the mount root is used.
 */
export function cgroupLimit(sys: SystemView): { bytes: number; file: string } | null {
  const lines = (sys.read("/proc/self/cgroup") ?? "").split("\n").filter(Boolean);
  let best: { bytes: number; file: string } | null = null;
  const consider = (bytes: number | null, file: string) => {
    if (bytes !== null && (best === null || bytes < best.bytes)) best = { bytes, file };
  };
  for (const line of lines) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (controllers === "" && line.startsWith("0:")) {
      // cgroup v2: memory.max on the way up; "max" means no limit at that level.
      const dirs = upTo("/sys/fs/cgroup", path);
      let found = false;
      for (const d of dirs) {
        const s = sys.read(`${d}/memory.max`);
        if (s === null) continue;
        found = true;
        consider(numeric(s), "cgroup v2 memory.max");
      }
      if (!found) consider(numeric(sys.read("/sys/fs/cgroup/memory.max")), "cgroup v2 memory.max");
    } else if (controllers.split(",").includes("memory")) {
      // cgroup v1: the group's own limit and the hierarchical one (the smallest of its ancestors').
      let dir = `/sys/fs/cgroup/memory${path === "/" ? "" : path}`;
      if (sys.read(`${dir}/memory.limit_in_bytes`) === null) dir = "/sys/fs/cgroup/memory";
      consider(numeric(sys.read(`${dir}/memory.limit_in_bytes`)), "cgroup v1 memory.limit_in_bytes");
      const stat = sys.read(`${dir}/memory.stat`);
      const h = stat ? /^hierarchical_memory_limit (\d+)$/m.exec(stat)?.[1] ?? null : null;
      consider(numeric(h), "cgroup v1 memory.limit_in_bytes");
    }
  }
  return best;
}

/** --memory-limit (bytes, 0 = not given), else the container's limit less headroom, else a quarter of the machine. */
export function memoryLimit(flagBytes: number, sys: SystemView = systemView): MemoryLimit {
  if (flagBytes > 0) return { bytes: flagBytes, source: "--memory-limit" };
  const cg = cgroupLimit(sys);
  if (cg !== null && cg.bytes < sys.totalMemory) {
    // Headroom for what is outside klite's accounting but charged to the cgroup (kernel socket buffers, the page
    // tables, memory the allocator has not returned yet): a tenth, at least 16 MiB.
    const headroom = Math.max(16 * MiB, Math.floor(cg.bytes / 10));
    return { bytes: Math.max(32 * MiB, cg.bytes - headroom), source: `${cg.file} ${formatBytes(cg.bytes)} less ${formatBytes(headroom)} headroom` };
  }
  return { bytes: Math.floor(sys.totalMemory / 4), source: `a quarter of the machine's ${formatBytes(sys.totalMemory)}` };
}

/** Splits the limit into pools (see the top of this file). `chunkPoolFlag` is --chunk-pool-memory, 0 = derived. */
export function planMemory(limit: MemoryLimit, chunkPoolFlag: number): MemoryPlan {
  const m = limit.bytes;
  if (chunkPoolFlag > Math.floor(m / 2)) {
    throw new MemoryBudgetError(
      `--chunk-pool-memory ${formatBytes(chunkPoolFlag)} is more than half of the memory limit ${formatBytes(m)} (${limit.source}): ` +
        `reads and the runtime need the rest; lower it or raise --memory-limit`,
    );
  }
  const chunkPool = chunkPoolFlag > 0 ? chunkPoolFlag : Math.max(MiB, Math.min(512 * MiB, Math.floor(m / 4)));
  const reads = Math.max(4 * MiB, Math.floor(m / 4));
  return {
    ...limit,
    chunkPool,
    reads,
    readsPerConnection: Math.max(MiB, Math.min(64 * MiB, Math.floor(reads / 4))),
    requests: Math.max(4 * MiB, Math.floor(m / 8)),
    footers: Math.max(MiB, Math.min(64 * MiB, Math.floor(m / 32))),
  };
}

export function describePlan(p: MemoryPlan): string {
  return `memory limit ${formatBytes(p.bytes)} (${p.source}): chunk pool ${formatBytes(p.chunkPool)}, reads ${formatBytes(p.reads)} ` +
    `(${formatBytes(p.readsPerConnection)} per connection), requests ${formatBytes(p.requests)}, S3 footers ${formatBytes(p.footers)}`;
}
