// A private network namespace for tests that need addresses of their own: Kubernetes refuses loopback addresses
// in EndpointSlices, so the test's pod IPs and Service ClusterIPs (10.x) are added to the `lo` of a network
// namespace that only that test's processes share (etcd, the API server, MinIO, the pods, the clients), never to
// this machine's. A test file runs itself again inside one (`unshare --net --mount --pid`, as root) and reports the
// inner run's results test by test. The inner run is PID 1 of its own PID namespace: however it ends (even by
// SIGKILL), the kernel ends every process it started.
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./broker.ts";
import { run } from "./peers.ts";

export const IN_NETNS = process.env.KLITE_TEST_NETNS === "1";

function netns(): string {
  return Bun.spawnSync(["readlink", "/proc/self/ns/net"], { stdout: "pipe" }).stdout.toString().trim();
}

/** The command that runs `cmd` as PID 1 of new network, mount and PID namespaces, with lo up. */
export function netnsCommand(cmd: string[]): { cmd: string[]; env: Record<string, string> } {
  return {
    cmd: ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", "/bin/sh", "-c", 'ip link set lo up && exec "$@"', "netns", ...cmd],
    env: { KLITE_TEST_NETNS: "1", KLITE_TEST_HOST_NETNS: netns() },
  };
}

/** Makes `ip` local (a /32 on lo) in this test's network namespace; refuses outside one. */
export function addLocalAddress(ip: string): void {
  if (!IN_NETNS || !process.env.KLITE_TEST_HOST_NETNS || netns() === process.env.KLITE_TEST_HOST_NETNS) throw new Error(`refusing to add ${ip} to lo outside a private network namespace`);
  const p = Bun.spawnSync(["ip", "addr", "add", `${ip}/32`, "dev", "lo"], { stdout: "pipe", stderr: "pipe" });
  const err = p.stderr.toString();
  if (p.exitCode !== 0 && !/File exists/.test(err)) throw new Error(`ip addr add ${ip}/32 dev lo: ${err.trim()}`);
}

export interface InnerResult {
  status: "passed" | "failed" | "skipped";
  message: string;
}

/**
 * Runs `bun test <file>` in a new network and mount namespace with lo up (KLITE_TEST_NETNS=1 tells the file it is
 * inside). Resolves with each test's result by name, and the run's output.
 */
export async function runInNetns(file: string, timeoutMs: number): Promise<{ results: Map<string, InnerResult>; output: string }> {
  const dir = tempDir("klite-netns-");
  const report = join(dir, "junit.xml");
  const { cmd, env } = netnsCommand([process.execPath, "test", `--timeout=${timeoutMs}`, "--reporter=junit", `--reporter-outfile=${report}`, file]);
  let output = "";
  try {
    output = await run(cmd, { env, timeoutMs: timeoutMs + 60_000 });
  } catch (e) {
    output = (e as Error).message;
  }
  const results = new Map<string, InnerResult>();
  let xml = "";
  try {
    xml = readFileSync(report, "utf8");
  } catch {
    // no report: every expected test fails with the output below
  }
  rmSync(dir, { recursive: true, force: true });
  const unescape = (s: string) => s.replace(/&#(\d+);/g, (_m, n) => String.fromCharCode(Number(n))).replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const name = unescape(/\bname="([^"]*)"/.exec(m[1]!)?.[1] ?? "");
    const body = m[3] ?? "";
    const failure = /<(failure|error)\b[^>]*?(?:message="([^"]*)")?[^>]*>([\s\S]*?)<\/\1>/.exec(body) ?? /<(failure|error)\b[^>]*?message="([^"]*)"/.exec(body);
    results.set(name, {
      status: /<skipped\b/.test(body) ? "skipped" : failure ? "failed" : "passed",
      message: failure ? unescape(`${failure[2] ?? ""}\n${failure[3] ?? ""}`.trim()) : "",
    });
  }
  return { results, output };
}
