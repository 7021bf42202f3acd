// The PodLabels contract: what the labeller relies on from the Kubernetes API. Run against the in-memory twin
// (test/unit/pod-labeller.test.ts) and a real kube-apiserver (test/k8s/labeller.test.ts).
import { expect, test } from "bun:test";
import { PodNotFound, type PodLabels } from "../../src/k8s/labeller.ts";

export interface PodLabelsFixture {
  api: PodLabels;
  /** Creates a pod with these labels in the api's namespace. */
  addPod(name: string, labels: Record<string, string>): Promise<void>;
  /** The pod's labels as stored. */
  labels(name: string): Promise<Record<string, string>>;
}

export function podLabelsContract(make: () => Promise<PodLabelsFixture>): void {
  test("a merge patch sets and removes one label and leaves the others alone", async () => {
    const f = await make();
    await f.addPod("c-a", { app: "klite", tier: "x" });
    await f.api.patchLabels("c-a", { "klite.io/role": "primary" });
    expect(await f.labels("c-a")).toEqual({ app: "klite", tier: "x", "klite.io/role": "primary" });
    await f.api.patchLabels("c-a", { "klite.io/role": null });
    expect(await f.labels("c-a")).toEqual({ app: "klite", tier: "x" });
    await f.api.patchLabels("c-a", { "klite.io/role": null }); // removing an absent label is fine
    expect(await f.labels("c-a")).toEqual({ app: "klite", tier: "x" });
  });

  test("listPods matches every term of an equality selector", async () => {
    const f = await make();
    await f.addPod("c-b", { app: "klite", release: "one", "klite.io/role": "primary" });
    await f.addPod("c-c", { app: "klite", release: "one" });
    await f.addPod("c-d", { app: "klite", release: "two", "klite.io/role": "primary" });
    expect((await f.api.listPods("app=klite,release=one,klite.io/role=primary")).sort()).toEqual(["c-b"]);
    expect((await f.api.listPods("app=klite,klite.io/role=primary")).sort()).toEqual(["c-b", "c-d"]);
    expect((await f.api.listPods("app=klite,release=three"))).toEqual([]);
  });

  test("podLabels reads a pod's labels", async () => {
    const f = await make();
    await f.addPod("c-e", { app: "klite", "klite.io/role": "primary" });
    expect(await f.api.podLabels("c-e")).toEqual({ app: "klite", "klite.io/role": "primary" });
  });

  test("patching or reading a pod that does not exist is PodNotFound", async () => {
    const f = await make();
    const err = await f.api.patchLabels("c-missing", { "klite.io/role": null }).then(() => null, (e: Error) => e);
    expect(err).toBeInstanceOf(PodNotFound);
    const err2 = await f.api.podLabels("c-missing").then(() => null, (e: Error) => e);
    expect(err2).toBeInstanceOf(PodNotFound);
  });
}
