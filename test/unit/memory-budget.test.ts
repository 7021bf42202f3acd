// The memory budget: the limit from --memory-limit, from cgroup v2 / v1 files (fixtures of both formats, with the
// headroom taken off), else a quarter of the machine; and its split into the pools.
import { describe, expect, test } from "bun:test";
import { cgroupLimit, memoryLimit, MemoryBudgetError, planMemory, type SystemView } from "../../src/memory/budget.ts";
import { resolveConfig } from "../../src/config.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function system(files: Record<string, string>, totalMemory = 24 * GiB): SystemView {
  return { read: (p) => files[p] ?? null, totalMemory };
}

// A pod's view with cgroup v2 and a cgroup namespace: the process sits at the root of its own hierarchy.
const V2_POD = {
  "/proc/self/cgroup": "0::/\n",
  "/sys/fs/cgroup/memory.max": "1073741824\n",
};
// cgroup v2 without a namespace: a limit on the parent slice, "max" on the leaf.
const V2_NESTED = {
  "/proc/self/cgroup": "0::/kubepods.slice/pod1.slice/cri-abc.scope\n",
  "/sys/fs/cgroup/memory.max": "max\n",
  "/sys/fs/cgroup/kubepods.slice/memory.max": "max\n",
  "/sys/fs/cgroup/kubepods.slice/pod1.slice/memory.max": "536870912\n",
  "/sys/fs/cgroup/kubepods.slice/pod1.slice/cri-abc.scope/memory.max": "max\n",
};
// cgroup v1 (hybrid, as on this project's test machine): the memory controller's own line.
const V1 = {
  "/proc/self/cgroup": "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n",
  "/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": "9223372036854771712\n",
  "/sys/fs/cgroup/memory/process_api/abc/memory.stat": "cache 0\nrss 1000\nhierarchical_memory_limit 805306368\n",
};
// cgroup v1 in a container that sees only its own group at the mount (the path names the host's hierarchy).
const V1_CONTAINER = {
  "/proc/self/cgroup": "12:memory:/docker/0123abcd\n",
  "/sys/fs/cgroup/memory/memory.limit_in_bytes": "268435456\n",
};
const V1_UNLIMITED = {
  "/proc/self/cgroup": "4:memory:/\n",
  "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
  "/sys/fs/cgroup/memory/memory.stat": "hierarchical_memory_limit 9223372036854771712\n",
};

describe("memory limit", () => {
  test("cgroup v2 memory.max, in a namespace and up a nested hierarchy", () => {
    expect(cgroupLimit(system(V2_POD))).toEqual({ bytes: GiB, file: "cgroup v2 memory.max" });
    expect(cgroupLimit(system(V2_NESTED))).toEqual({ bytes: 512 * MiB, file: "cgroup v2 memory.max" });
  });

  test("cgroup v1 memory.limit_in_bytes, the hierarchical limit included; a container's own mount", () => {
    expect(cgroupLimit(system(V1))).toEqual({ bytes: 768 * MiB, file: "cgroup v1 memory.limit_in_bytes" });
    expect(cgroupLimit(system(V1_CONTAINER))).toEqual({ bytes: 256 * MiB, file: "cgroup v1 memory.limit_in_bytes" });
    expect(cgroupLimit(system(V1_UNLIMITED))).toBeNull();
    expect(cgroupLimit(system({}))).toBeNull();
  });

  test("the container's limit less a tenth of headroom (at least 16 MiB), and where it came from", () => {
    const l = memoryLimit(0, system(V2_POD));
    expect(l.bytes).toBe(GiB - Math.floor(GiB / 10));
    expect(l.source).toBe("cgroup v2 memory.max 1 GiB less 102 MiB headroom");
    expect(memoryLimit(0, system(V1_CONTAINER))).toEqual({ bytes: 256 * MiB - Math.floor(256 * MiB / 10), source: "cgroup v1 memory.limit_in_bytes 256 MiB less 26 MiB headroom" });
    expect(memoryLimit(0, system({ "/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": String(100 * MiB) })).bytes).toBe(84 * MiB);
  });

  test("no container limit (or one above the machine's memory): a quarter of the machine", () => {
    expect(memoryLimit(0, system(V1_UNLIMITED, 16 * GiB))).toEqual({ bytes: 4 * GiB, source: "a quarter of the machine's 16 GiB" });
    expect(memoryLimit(0, system(V2_POD, 512 * MiB)).bytes).toBe(128 * MiB);
  });

  test("--memory-limit wins over the cgroup", () => {
    const flag = resolveConfig({ "memory-limit": "300MiB" }, {}).memoryLimit;
    expect(flag).toBe(300 * MiB);
    expect(memoryLimit(flag, system(V2_POD))).toEqual({ bytes: 300 * MiB, source: "--memory-limit" });
    expect(resolveConfig({}, { KLITE_MEMORY_LIMIT: "2GiB" }).memoryLimit).toBe(2 * GiB);
    expect(() => resolveConfig({ "memory-limit": "1MiB" }, {})).toThrow("--memory-limit");
  });
});

describe("memory plan", () => {
  test("shares of a 1 GiB pod's limit", () => {
    const p = planMemory(memoryLimit(0, system(V2_POD)), 0);
    const m = GiB - Math.floor(GiB / 10);
    expect(p.chunkPool).toBe(Math.floor(m / 4));
    expect(p.reads).toBe(Math.floor(m / 4));
    expect(p.readsPerConnection).toBe(Math.floor(m / 16));
    expect(p.requests).toBe(Math.floor(m / 8));
    expect(p.footers).toBe(Math.floor(m / 32));
    expect(p.chunkPool + p.reads + p.requests + p.footers).toBeLessThan(0.7 * m);
  });

  test("large limits: the chunk pool stays at 512 MiB, a connection's share at 64 MiB", () => {
    const p = planMemory({ bytes: 16 * GiB, source: "x" }, 0);
    expect(p.chunkPool).toBe(512 * MiB);
    expect(p.readsPerConnection).toBe(64 * MiB);
    expect(p.footers).toBe(64 * MiB);
  });

  test("--chunk-pool-memory is kept, but not above half the limit", () => {
    expect(planMemory({ bytes: GiB, source: "--memory-limit" }, 300 * MiB).chunkPool).toBe(300 * MiB);
    expect(() => planMemory({ bytes: GiB, source: "--memory-limit" }, 600 * MiB)).toThrow(MemoryBudgetError);
    expect(() => planMemory({ bytes: GiB, source: "--memory-limit" }, 600 * MiB)).toThrow("--chunk-pool-memory 600 MiB is more than half of the memory limit 1 GiB");
  });
});
