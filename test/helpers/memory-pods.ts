// An in-memory twin of the PodLabels port (src/k8s/labeller.ts) for unit tests: pods with labels, merge-patch
// semantics, equality label selectors, and an outage switch. The contract suite (test/k8s/pod-labels-contract.ts)
// runs against it and against a real kube-apiserver.
import { PodNotFound, type PodLabels } from "../../src/k8s/labeller.ts";

export class MemoryPods implements PodLabels {
  readonly describe = "memory";
  readonly pods = new Map<string, Record<string, string>>();
  /** When set, every call fails with this message (an API server that is away or refuses). */
  down: string | null = null;
  calls = 0;

  addPod(name: string, labels: Record<string, string> = {}): void {
    this.pods.set(name, { ...labels });
  }

  labels(name: string): Record<string, string> | undefined {
    return this.pods.get(name);
  }

  async patchLabels(pod: string, labels: Record<string, string | null>): Promise<void> {
    await Promise.resolve(); // a real call always yields
    this.calls++;
    if (this.down) throw new Error(this.down);
    const current = this.pods.get(pod);
    if (!current) throw new PodNotFound(`pod ${pod} not found`);
    for (const [k, v] of Object.entries(labels)) {
      if (v === null) delete current[k];
      else current[k] = v;
    }
  }

  async podLabels(pod: string): Promise<Record<string, string>> {
    await Promise.resolve();
    this.calls++;
    if (this.down) throw new Error(this.down);
    const current = this.pods.get(pod);
    if (!current) throw new PodNotFound(`pod ${pod} not found`);
    return { ...current };
  }

  async listPods(labelSelector: string): Promise<string[]> {
    await Promise.resolve();
    this.calls++;
    if (this.down) throw new Error(this.down);
    const terms = labelSelector.split(",").filter(Boolean).map((t) => t.split("=") as [string, string]);
    return [...this.pods].filter(([, l]) => terms.every(([k, v]) => l[k] === v)).map(([name]) => name);
  }
}
