// Memory cgroups for tests and benchmarks: a child of this process's own memory cgroup with a limit, that a broker is
// started in (`sh -c 'echo $$ > cgroup.procs; exec klite ...'`). Works with cgroup v1 (the memory controller mounted
// at /sys/fs/cgroup/memory) and v2 (the unified hierarchy with the memory controller enabled for children), as root
// or wherever the cgroup is delegated. Where neither allows it, memoryCgroup() says why and callers skip.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface MemoryCgroup {
  path: string;
  version: 1 | 2;
  limitBytes: number;
  /** The command line that runs `argv` inside the cgroup. */
  wrap(argv: string[]): string[];
  /** Times the kernel's OOM killer fired in this cgroup. */
  oomKills(): number;
  /** Highest memory use the cgroup saw (v1 max_usage_in_bytes, v2 memory.peak where the kernel has it; page cache included), or null. */
  peakBytes(): number | null;
  /** Removes the cgroup (its processes must have exited). */
  remove(): void;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** This process's cgroup directory for the memory controller, with its version, or null. */
function ownCgroup(): { dir: string; version: 1 | 2 } | null {
  const lines = (read("/proc/self/cgroup") ?? "").split("\n");
  for (const l of lines) {
    const [, controllers, path] = l.split(":");
    if (controllers?.split(",").includes("memory") && existsSync("/sys/fs/cgroup/memory")) {
      const dir = join("/sys/fs/cgroup/memory", path ?? "");
      return { dir: existsSync(dir) ? dir : "/sys/fs/cgroup/memory", version: 1 };
    }
  }
  const unified = lines.find((l) => l.startsWith("0::"));
  if (unified !== undefined && existsSync("/sys/fs/cgroup/cgroup.controllers")) {
    const dir = join("/sys/fs/cgroup", unified.slice(3));
    return { dir: existsSync(dir) ? dir : "/sys/fs/cgroup", version: 2 };
  }
  return null;
}

/** A new memory cgroup limited to limitBytes (swap off where the kernel lets us), or the reason there is none. */
export function memoryCgroup(name: string, limitBytes: number): MemoryCgroup | { unavailable: string } {
  const own = ownCgroup();
  if (!own) return { unavailable: "no memory cgroup controller is mounted" };
  const path = join(own.dir, `${name}-${process.pid}-${Date.now().toString(36)}`);
  try {
    mkdirSync(path);
  } catch (e) {
    return { unavailable: `cannot create a cgroup under ${own.dir}: ${(e as Error).message}` };
  }
  try {
    if (own.version === 1) {
      writeFileSync(join(path, "memory.limit_in_bytes"), String(limitBytes));
      try {
        writeFileSync(join(path, "memory.swappiness"), "0");
        writeFileSync(join(path, "memory.memsw.limit_in_bytes"), String(limitBytes));
      } catch {
        // no swap accounting: the limit still holds for RSS
      }
    } else {
      writeFileSync(join(path, "memory.max"), String(limitBytes));
      try {
        writeFileSync(join(path, "memory.swap.max"), "0");
      } catch {
        // no swap controller
      }
    }
  } catch (e) {
    try {
      rmdirSync(path);
    } catch {
      // ignore
    }
    return { unavailable: `cannot set a memory limit in ${path}: ${(e as Error).message}` };
  }
  const v = own.version;
  return {
    path,
    version: v,
    limitBytes,
    wrap: (argv) => ["sh", "-c", `echo $$ > '${join(path, "cgroup.procs")}' && exec "$@"`, "sh", ...argv],
    oomKills() {
      const text = read(join(path, v === 1 ? "memory.oom_control" : "memory.events")) ?? "";
      return Number(/oom_kill (\d+)/.exec(text)?.[1] ?? 0);
    },
    peakBytes() {
      const s = read(join(path, v === 1 ? "memory.max_usage_in_bytes" : "memory.peak"));
      return s === null ? null : Number(s.trim());
    },
    remove() {
      for (let i = 0; i < 50; i++) {
        try {
          rmdirSync(path);
          return;
        } catch {
          Bun.sleepSync(20); // the last process is still leaving
        }
      }
    },
  };
}

/** Peak and current resident set size of a process in bytes (VmHWM, VmRSS), or null when it is gone. */
export function rssOf(pid: number): { peak: number; now: number } | null {
  const s = read(`/proc/${pid}/status`);
  if (s === null) return null;
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
  return { peak: kb("VmHWM"), now: kb("VmRSS") };
}
