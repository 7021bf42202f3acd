// The pod-role labeller against the in-memory twin of the Kubernetes API: which pods carry klite.io/role=primary
// after promotions, demotions and stops, retries while the API is away, and that it never blocks its caller.
// The same PodLabels contract runs here against the twin and in test/k8s against a real kube-apiserver.
import { describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { podRoleObservers } from "../../src/broker/wiring-k8s.ts";
import { testConfig } from "../../src/config.ts";
import { PodRoleLabeller, ROLE_LABEL } from "../../src/k8s/labeller.ts";
import type { Logger } from "../../src/logger.ts";
import { tempDir } from "../helpers/broker.ts";
import { MemoryPods } from "../helpers/memory-pods.ts";
import { podLabelsContract } from "../k8s/pod-labels-contract.ts";

function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const logger: Logger = {
    error: (msg) => lines.push({ level: "error", msg }),
    warn: (msg) => lines.push({ level: "warn", msg }),
    info: (msg) => lines.push({ level: "info", msg }),
    debug: (msg) => lines.push({ level: "debug", msg }),
  };
  return { logger, lines };
}

const SELECTOR = "app.kubernetes.io/name=klite,app.kubernetes.io/instance=one";
const SIBLING = { "app.kubernetes.io/name": "klite", "app.kubernetes.io/instance": "one" };

function setup(opts: { stopTimeoutMs?: number } = {}) {
  const pods = new MemoryPods();
  pods.addPod("klite-0", SIBLING);
  pods.addPod("klite-1", SIBLING);
  const { logger, lines } = recordingLogger();
  const labeller = new PodRoleLabeller(pods, { pod: "klite-0", siblingSelector: SELECTOR, initialBackoffMs: 5, maxBackoffMs: 20, ...opts }, logger);
  const primaries = () => [...pods.pods].filter(([, l]) => l[ROLE_LABEL] === "primary").map(([n]) => n).sort();
  return { pods, labeller, lines, primaries };
}

describe("PodLabels contract on the in-memory twin", () => {
  podLabelsContract(async () => {
    const pods = new MemoryPods();
    return { api: pods, addPod: async (n, l) => pods.addPod(n, l), labels: async (n) => ({ ...pods.labels(n) }) };
  });
});

describe("pod-role labeller", () => {
  test("a promotion labels this pod and removes a stale label from a sibling, not from another release's pod", async () => {
    const { pods, labeller, primaries } = setup();
    pods.patchLabels("klite-1", { [ROLE_LABEL]: "primary" }); // the old primary crashed with its label on
    pods.addPod("other-0", { "app.kubernetes.io/name": "klite", "app.kubernetes.io/instance": "two", [ROLE_LABEL]: "primary" });
    await Bun.sleep(0);
    labeller.promoted();
    await labeller.settled();
    expect(primaries()).toEqual(["klite-0", "other-0"]);
    expect(pods.labels("klite-1")).toEqual(SIBLING);
  });

  test("demotion and a graceful stop remove this pod's label", async () => {
    const { labeller, primaries } = setup();
    labeller.promoted();
    await labeller.settled();
    expect(primaries()).toEqual(["klite-0"]);
    labeller.demoted();
    await labeller.settled();
    expect(primaries()).toEqual([]);
    labeller.promoted();
    await labeller.settled();
    expect(primaries()).toEqual(["klite-0"]);
    await labeller.stopping();
    expect(primaries()).toEqual([]);
    labeller.promoted(); // after stop: ignored
    await labeller.settled();
    expect(primaries()).toEqual([]);
  });

  test("at start, a label an earlier run left on this pod is removed; a promotion right after still wins", async () => {
    const { pods, labeller, lines, primaries } = setup();
    await pods.patchLabels("klite-0", { [ROLE_LABEL]: "primary" }); // the container crashed and restarted
    labeller.start();
    await labeller.settled();
    expect(primaries()).toEqual([]);
    expect(lines.some((l) => l.level === "info" && l.msg.includes("an earlier run left"))).toBe(true);
    const again = setup();
    await again.pods.patchLabels("klite-0", { [ROLE_LABEL]: "primary" });
    again.labeller.start();
    again.labeller.promoted();
    await again.labeller.settled();
    expect(again.primaries()).toEqual(["klite-0"]);
  });

  test("at start without a stale label nothing is patched or said", async () => {
    const { pods, labeller, lines } = setup();
    labeller.start();
    await labeller.settled();
    expect(pods.calls).toBe(1); // one read
    expect(lines.filter((l) => l.level !== "debug")).toEqual([]);
  });

  test("never blocks the caller; retries with backoff while the API is away; says why once", async () => {
    const { pods, labeller, lines, primaries } = setup();
    pods.down = 'pods "klite-0" is forbidden: User "system:serviceaccount:default:klite" cannot patch resource "pods"';
    expect(labeller.promoted()).toBeUndefined(); // nothing to await: the patches run in the background
    while (pods.calls < 4) await Bun.sleep(5);
    expect(primaries()).toEqual([]);
    pods.down = null;
    await labeller.settled();
    expect(primaries()).toEqual(["klite-0"]);
    const warns = lines.filter((l) => l.level === "warn");
    expect(warns.length).toBe(1);
    expect(warns[0]!.msg).toContain("cannot patch resource");
    expect(lines.some((l) => l.level === "info" && /after \d+ attempts/.test(l.msg))).toBe(true);
  });

  test("each role change's first failure is warned: a failing start check does not hide a failing promotion", async () => {
    const { pods, labeller, lines } = setup();
    pods.down = "forbidden";
    labeller.start();
    while (pods.calls < 2) await Bun.sleep(5);
    labeller.promoted();
    while (pods.calls < 4) await Bun.sleep(5);
    pods.down = null;
    await labeller.settled();
    expect(lines.filter((l) => l.level === "warn").map((l) => l.msg.split(":")[1]!.trim().split(" ").slice(0, 3).join(" "))).toEqual(["could not check", "could not set"]);
  });

  test("a demotion while a promotion is still retrying wins: the label ends up removed", async () => {
    const { pods, labeller, primaries } = setup();
    pods.down = "connection refused";
    labeller.promoted();
    while (pods.calls < 2) await Bun.sleep(5);
    labeller.demoted();
    pods.down = null;
    await labeller.settled();
    expect(primaries()).toEqual([]);
    const calls = pods.calls;
    await Bun.sleep(60);
    expect(pods.calls).toBe(calls); // settled: nothing more is sent
  });

  test("a stop with the API away gives up after its timeout and stops retrying", async () => {
    const { pods, labeller, lines } = setup({ stopTimeoutMs: 100 });
    labeller.promoted();
    await labeller.settled();
    pods.down = "connection refused";
    await labeller.stopping();
    expect(lines.some((l) => l.level === "warn" && l.msg.includes("not removed within 100 ms"))).toBe(true);
    await labeller.settled();
    const calls = pods.calls;
    await Bun.sleep(60);
    expect(pods.calls).toBe(calls);
  });
});

describe("wiring (src/broker/wiring-k8s.ts)", () => {
  const config = testConfig({ labelSelector: SELECTOR });

  test("outside Kubernetes it is a no-op that says so once at debug level", async () => {
    const { logger, lines } = recordingLogger();
    expect(await podRoleObservers(config, {}, logger)).toEqual([]);
    expect(lines).toEqual([{ level: "debug", msg: expect.stringContaining("POD_NAME is not set") }]);
    const second = recordingLogger();
    expect(await podRoleObservers(config, { POD_NAME: "klite-0" }, second.logger)).toEqual([]);
    expect(second.lines).toEqual([{ level: "debug", msg: expect.stringContaining("no Kubernetes credentials") }]);
  });

  test("an unreadable kubeconfig leaves the labels off with a warning; a valid one turns them on", async () => {
    const { logger, lines } = recordingLogger();
    expect(await podRoleObservers(config, { POD_NAME: "klite-0", KUBECONFIG: "/nonexistent/kubeconfig" }, logger)).toEqual([]);
    expect(lines.map((l) => l.level)).toEqual(["warn"]);
    const dir = tempDir("klite-kubeconfig-");
    const path = join(dir, "config");
    writeFileSync(path, [
      "apiVersion: v1", "kind: Config", "current-context: c",
      "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]",
      "users: [{name: u, user: {token: abc}}]",
      "contexts: [{name: c, context: {cluster: k, user: u, namespace: team-a}}]",
    ].join("\n"));
    const on = recordingLogger();
    const observers = await podRoleObservers(config, { POD_NAME: "klite-0", KUBECONFIG: path }, on.logger);
    expect(observers.length).toBe(1);
    expect(on.lines[0]!.msg).toContain("pod role labels on: pod klite-0 in namespace team-a on https://127.0.0.1:1");
    rmSync(dir, { recursive: true, force: true });
  });
});
