// What the control plane lacks to run the chart's pods on this machine: a kubelet, kube-proxy and cluster DNS,
// played by the test, on loopback addresses. The control plane itself (API server, controllers, EndpointSlices)
// is the real one.
//
// - Kubelet: registers a Node, binds the namespace's pending pods to it, and runs each pod's container from the
//   image's root filesystem (test/helpers/rootfs.ts: distroless base + dist/klite, read-only root, as uid 65532)
//   with the pod's own args and env ($(VAR) expanded, fieldRef and Secret values resolved, the service account's
//   token from the TokenRequest API, ca.crt and namespace mounted where the kubelet mounts them, KUBERNETES_SERVICE_*
//   set). The readiness probe of the pod spec decides the Ready condition it patches into the pod's status. A
//   container that exits is restarted (restartPolicy Always) after a short back-off; a pod being deleted gets
//   SIGTERM, and once its container exits the pod object is removed (the StatefulSet then recreates it).
// - Pod network: the test runs in a network namespace of its own (test/helpers/netns.ts); each pod gets an address
//   there (10.244.1.n on lo: EndpointSlices refuse loopback addresses) as its pod IP. The pods share that one
//   namespace, so a wildcard bind in the pod's args (`--listen=:9092`: "every interface of this pod") is narrowed
//   to the pod IP; that is the only change made to what the pod spec says.
// - DNS: every pod's /etc/hosts answers what cluster DNS would: each Service's FQDN → its ClusterIP, each
//   StatefulSet pod's <pod>.<headless service> name → its pod IP.
// - kube-proxy: a Service's ClusterIP (from the API server's --service-cluster-ip-range) is made a local address
//   of the namespace, so ClusterIP:port is a real address: a TCP proxy listens there and forwards each new
//   connection to a ready endpoint of the Service's EndpointSlices as kube-controller-manager keeps them (the
//   `kubernetes` Service to the API server). Established connections stay where they are, as with kube-proxy.
import { mkdirSync, rmSync, writeFileSync, chownSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { Cluster } from "./kubernetes.ts";
import { addLocalAddress } from "./netns.ts";
import { runInRootfs, rootfsSpec, type ContainerRun } from "./rootfs.ts";

export interface PodRuntime {
  name: string;
  uid: string;
  ip: string;
  container: ContainerRun | null;
  restarts: number;
  ready: boolean;
  /** Everything the pod's containers printed, all restarts. */
  log: string;
  deleting: boolean;
}

export interface KubeletOptions {
  cluster: Cluster;
  namespace: string;
  /** The first three octets of the pod addresses ("10.244.1": pods 10.244.1.10, .11, ...). */
  podNet: string;
  /** The klite binary the image holds. */
  binary: string;
  /** Host directory for volumes (PVCs survive pod re-creation by name). */
  dir: string;
  restartDelayMs?: number;
  log?: (line: string) => void;
}

const WILDCARD_BIND = /^(--[a-z-]*(?:listen|addr))=:(\d+)$/;

export class Kubelet {
  readonly node = "node-1";
  readonly pods = new Map<string, PodRuntime>();
  /** Output of pods that are gone (deleted), by name. */
  private readonly past = new Map<string, string>();
  private nextIp = 10;
  private readonly ipByPod = new Map<string, string>();
  private loop: ReturnType<typeof setInterval> | null = null;
  private syncing = false;
  private stopped = false;
  private probes = new Map<string, ReturnType<typeof setInterval>>();

  constructor(private readonly o: KubeletOptions) {}

  private get api() {
    return this.o.cluster.api.bind(this.o.cluster);
  }
  private get ns() {
    return this.o.namespace;
  }
  private say(line: string) {
    this.o.log?.(`[kubelet] ${line}`);
  }

  async start(): Promise<void> {
    await this.api("POST", "/api/v1/nodes", { apiVersion: "v1", kind: "Node", metadata: { name: this.node, labels: { "kubernetes.io/hostname": this.node } } });
    const now = new Date().toISOString();
    await this.api("PATCH", `/api/v1/nodes/${this.node}/status`, {
      status: { conditions: [{ type: "Ready", status: "True", reason: "KubeletReady", message: "test kubelet", lastHeartbeatTime: now, lastTransitionTime: now }], addresses: [{ type: "InternalIP", address: "127.0.0.1" }] },
    }, { patch: true });
    this.loop = setInterval(() => void this.sync(), 200);
  }

  /** The pod IP a pod has (or will get). */
  podIp(pod: string): string {
    let ip = this.ipByPod.get(pod);
    if (!ip) {
      ip = `${this.o.podNet}.${this.nextIp++}`;
      addLocalAddress(ip);
      this.ipByPod.set(pod, ip);
    }
    return ip;
  }

  private async sync(): Promise<void> {
    if (this.syncing || this.stopped) return;
    this.syncing = true;
    try {
      const list = await this.api("GET", `/api/v1/namespaces/${this.ns}/pods`);
      for (const pod of list.items) await this.syncPod(pod);
    } catch (e) {
      this.say(`sync failed: ${(e as Error).message}`);
    } finally {
      this.syncing = false;
    }
  }

  private async syncPod(pod: any): Promise<void> {
    const name: string = pod.metadata.name;
    let rt = this.pods.get(name);
    if (rt && rt.uid !== pod.metadata.uid) rt = undefined; // an old pod of the same name is gone
    if (pod.metadata.deletionTimestamp) {
      if (rt && !rt.deleting) void this.terminate(rt, pod);
      return;
    }
    if (!pod.spec.nodeName) {
      await this.api("POST", `/api/v1/namespaces/${this.ns}/pods/${name}/binding`, { apiVersion: "v1", kind: "Binding", metadata: { name }, target: { apiVersion: "v1", kind: "Node", name: this.node } });
      return;
    }
    if (!rt) {
      rt = { name, uid: pod.metadata.uid, ip: this.podIp(name), container: null, restarts: 0, ready: false, log: "", deleting: false };
      this.pods.set(name, rt);
      await this.patchStatus(rt, false);
      await this.run(rt, pod);
    }
  }

  private async run(rt: PodRuntime, pod: any): Promise<void> {
    const spec = pod.spec;
    const c = spec.containers[0];
    const env = await this.containerEnv(pod, rt);
    const expand = (s: string) => s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v) => env[v] ?? m);
    const args: string[] = (c.args ?? []).map(expand).map((a: string) => a.replace(WILDCARD_BIND, (_m, flag, port) => `${flag}=${rt.ip}:${port}`));
    const podDir = join(this.o.dir, "pods", `${rt.name}-${rt.uid}`);
    mkdirSync(podDir, { recursive: true });
    // Volumes: the PVC (by its name, so it survives the pod) or an emptyDir for /data; /tmp is the runner's tmpfs.
    const dataVol = (spec.volumes ?? []).find((v: any) => v.name === "data");
    const claim = dataVol?.persistentVolumeClaim?.claimName ?? (dataVol ? null : `data-${rt.name}`);
    const dataDir = claim ? join(this.o.dir, "pvc", claim) : join(podDir, "data");
    mkdirSync(dataDir, { recursive: true });
    const { uid, gid } = rootfsSpec().user;
    chownSync(dataDir, uid, gid);
    const hosts = join(podDir, "hosts");
    writeFileSync(hosts, await this.hostsFile(rt, pod));
    let serviceAccount: string | undefined;
    if (spec.automountServiceAccountToken !== false) {
      serviceAccount = join(podDir, "serviceaccount");
      mkdirSync(serviceAccount, { recursive: true });
      const tr = await this.api("POST", `/api/v1/namespaces/${this.ns}/serviceaccounts/${spec.serviceAccountName ?? "default"}/token`, {
        apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest",
        spec: { expirationSeconds: 3600, boundObjectRef: { apiVersion: "v1", kind: "Pod", name: rt.name, uid: rt.uid } },
      });
      writeFileSync(join(serviceAccount, "token"), tr.status.token);
      writeFileSync(join(serviceAccount, "ca.crt"), await Bun.file(this.o.cluster.caFile).text());
      writeFileSync(join(serviceAccount, "namespace"), this.ns);
    }
    const container = runInRootfs({ binary: this.o.binary, dataDir, args, env, serviceAccount, hosts });
    rt.container = container;
    this.say(`started ${rt.name} (${rt.ip}, pid ${container.pid}, restart ${rt.restarts})`);
    const probe = c.readinessProbe?.httpGet;
    const port = probe ? (typeof probe.port === "number" ? probe.port : c.ports.find((p: any) => p.name === probe.port)?.containerPort) : null;
    const period = Math.max(1, c.readinessProbe?.periodSeconds ?? 10) * 1000;
    const check = async () => {
      if (rt.container !== container || container.proc.exitCode !== null) return;
      const ok = port ? await fetch(`http://${rt.ip}:${port}${probe.path}`, { signal: AbortSignal.timeout(3000) }).then((r) => r.status >= 200 && r.status < 400, () => false) : true;
      if (ok !== rt.ready && rt.container === container) await this.patchStatus(rt, ok).catch((e) => this.say(`status: ${(e as Error).message}`));
    };
    // First probes come quickly (as a startup probe would let them), then at the spec's period.
    const fast = setInterval(() => void check(), 250);
    const slowStart = setTimeout(() => {
      clearInterval(fast);
      this.probes.set(rt.name, setInterval(() => void check(), period));
    }, 10_000);
    clearInterval(this.probes.get(rt.name));
    this.probes.set(rt.name, fast);
    void container.exited.then(async (code) => {
      clearTimeout(slowStart);
      clearInterval(fast);
      clearInterval(this.probes.get(rt.name));
      rt.log += container.output();
      this.say(`${rt.name} exited ${code}`);
      if (rt.container !== container) return;
      rt.container = null;
      if (this.stopped) return;
      await this.patchStatus(rt, false).catch(() => {});
      if (rt.deleting) return;
      rt.restarts++;
      await Bun.sleep(this.o.restartDelayMs ?? 1000);
      if (this.stopped || rt.deleting || this.pods.get(rt.name) !== rt) return;
      const current = await this.api("GET", `/api/v1/namespaces/${this.ns}/pods/${rt.name}`, undefined, { allow404: true });
      if (current && current.metadata.uid === rt.uid && !current.metadata.deletionTimestamp) await this.run(rt, current);
    });
  }

  private async containerEnv(pod: any, rt: PodRuntime): Promise<Record<string, string>> {
    const c = pod.spec.containers[0];
    const env: Record<string, string> = {};
    const kubernetes = await this.api("GET", "/api/v1/namespaces/default/services/kubernetes");
    env.KUBERNETES_SERVICE_HOST = kubernetes.spec.clusterIP;
    env.KUBERNETES_SERVICE_PORT = String(kubernetes.spec.ports[0].port);
    if (pod.spec.enableServiceLinks !== false) {
      // The kubelet's docker-link variables for every Service of the namespace (KLITE_SERVICE_HOST, KLITE_PORT, ...).
      const services = await this.api("GET", `/api/v1/namespaces/${this.ns}/services`);
      for (const s of services.items) {
        if (!s.spec.clusterIP || s.spec.clusterIP === "None") continue;
        const n = s.metadata.name.toUpperCase().replace(/-/g, "_");
        const p0 = s.spec.ports[0];
        env[`${n}_SERVICE_HOST`] = s.spec.clusterIP;
        env[`${n}_SERVICE_PORT`] = String(p0.port);
        env[`${n}_PORT`] = `${p0.protocol.toLowerCase()}://${s.spec.clusterIP}:${p0.port}`;
      }
    }
    for (const from of c.envFrom ?? []) {
      if (!from.secretRef) continue;
      const secret = await this.api("GET", `/api/v1/namespaces/${this.ns}/secrets/${from.secretRef.name}`);
      for (const [k, v] of Object.entries(secret.data ?? {})) env[k] = Buffer.from(v as string, "base64").toString("utf8");
    }
    const field = (path: string): string => {
      switch (path) {
        case "metadata.name": return pod.metadata.name;
        case "metadata.namespace": return pod.metadata.namespace;
        case "status.podIP": return rt.ip;
        case "spec.nodeName": return this.node;
        case "spec.serviceAccountName": return pod.spec.serviceAccountName;
        default: throw new Error(`fieldRef ${path} is not supported by the test kubelet`);
      }
    };
    for (const e of c.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m: string, v: string) => env[v] ?? m);
      else if (e.valueFrom?.fieldRef) env[e.name] = field(e.valueFrom.fieldRef.fieldPath);
      else if (e.valueFrom?.secretKeyRef) {
        const s = await this.api("GET", `/api/v1/namespaces/${this.ns}/secrets/${e.valueFrom.secretKeyRef.name}`);
        env[e.name] = Buffer.from(s.data[e.valueFrom.secretKeyRef.key], "base64").toString("utf8");
      }
    }
    return env;
  }

  /** The pod's /etc/hosts: itself, and what cluster DNS would answer for the namespace's Services and pods. */
  private async hostsFile(rt: PodRuntime, pod: any): Promise<string> {
    const lines = ["127.0.0.1 localhost"];
    const services = await this.api("GET", `/api/v1/namespaces/${this.ns}/services`);
    for (const s of services.items) {
      const fqdn = `${s.metadata.name}.${this.ns}.svc.cluster.local`;
      if (s.spec.clusterIP && s.spec.clusterIP !== "None") lines.push(`${s.spec.clusterIP} ${fqdn}`);
      else {
        // Headless: <pod>.<service> for every pod of the StatefulSets that name it (pods not created yet included).
        const sets = await this.api("GET", `/apis/apps/v1/namespaces/${this.ns}/statefulsets`);
        for (const st of sets.items) {
          if (st.spec.serviceName !== s.metadata.name) continue;
          for (let i = 0; i < st.spec.replicas; i++) lines.push(`${this.podIp(`${st.metadata.name}-${i}`)} ${st.metadata.name}-${i}.${fqdn}`);
        }
      }
    }
    if (pod.spec.subdomain) lines.push(`${rt.ip} ${pod.spec.hostname ?? rt.name}.${pod.spec.subdomain}.${this.ns}.svc.cluster.local ${rt.name}`);
    else lines.push(`${rt.ip} ${rt.name}`);
    return `${[...new Set(lines)].join("\n")}\n`;
  }

  private async patchStatus(rt: PodRuntime, ready: boolean): Promise<void> {
    rt.ready = ready;
    const now = new Date().toISOString();
    const cond = (type: string, status: boolean) => ({ type, status: status ? "True" : "False", lastTransitionTime: now });
    await this.api("PATCH", `/api/v1/namespaces/${this.ns}/pods/${rt.name}/status`, {
      status: {
        phase: "Running",
        hostIP: "127.0.0.1",
        podIP: rt.ip,
        podIPs: [{ ip: rt.ip }],
        startTime: now,
        conditions: [cond("PodScheduled", true), cond("Initialized", true), cond("ContainersReady", ready), cond("Ready", ready)],
        containerStatuses: [{ name: "klite", image: "klite", imageID: "", ready, restartCount: rt.restarts, started: rt.container !== null, state: rt.container ? { running: { startedAt: now } } : { waiting: { reason: "ContainerCreating" } } }],
      },
    }, { patch: true });
    this.say(`${rt.name} ${ready ? "Ready" : "not ready"}`);
  }

  /** Graceful deletion: SIGTERM, wait for the exit (up to the grace period, then SIGKILL), then remove the pod. */
  private async terminate(rt: PodRuntime, pod: any): Promise<void> {
    rt.deleting = true;
    const grace = (pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
    const c = rt.container;
    if (c && c.proc.exitCode === null) {
      this.say(`${rt.name}: SIGTERM (pod deleted)`);
      process.kill(c.pid, "SIGTERM");
      const killed = setTimeout(() => c.proc.exitCode === null && process.kill(c.pid, "SIGKILL"), grace);
      await c.exited;
      clearTimeout(killed);
    }
    await this.api("DELETE", `/api/v1/namespaces/${this.ns}/pods/${rt.name}`, { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0, preconditions: { uid: rt.uid } }, { allow404: true }).catch((e) => this.say(`delete: ${(e as Error).message}`));
    if (this.pods.get(rt.name) === rt) this.pods.delete(rt.name);
    this.past.set(rt.name, (this.past.get(rt.name) ?? "") + rt.log + `[kubelet] pod ${rt.name} (uid ${rt.uid}) deleted\n`);
  }

  /** Sends a signal to a pod's container (as a crash or a container stop would). */
  signal(pod: string, signal: "SIGKILL" | "SIGTERM"): number {
    const c = this.pods.get(pod)?.container;
    if (!c || c.proc.exitCode !== null) throw new Error(`pod ${pod} has no running container`);
    process.kill(c.pid, signal);
    return c.pid;
  }

  /** Everything the pods of this name printed so far (earlier, deleted pods of the name first). */
  logs(pod: string): string {
    const rt = this.pods.get(pod);
    return (this.past.get(pod) ?? "") + (rt ? rt.log + (rt.container?.output() ?? "") : "");
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.loop) clearInterval(this.loop);
    for (const t of this.probes.values()) clearInterval(t);
    const running = [...this.pods.values()].map((p) => p.container).filter((c): c is ContainerRun => c !== null && c.proc.exitCode === null);
    for (const c of running) process.kill(c.pid, "SIGKILL");
    await Promise.all(running.map((c) => c.exited));
  }
}

/** kube-proxy's part: each Service's ClusterIP:port forwards new connections to a ready endpoint of its slices. */
export class ServiceProxy {
  private servers: Server[] = [];
  private endpoints = new Map<string, { ip: string; port: number }[]>();
  private loop: ReturnType<typeof setInterval> | null = null;
  private sockets = new Set<Socket>();

  constructor(private readonly cluster: Cluster, private readonly namespace: string) {}

  /** Proxies the namespace's ClusterIP Services (by port name to the endpoints' port of that name), and the
   * `kubernetes` Service to the API server. */
  async start(): Promise<void> {
    const k = await this.cluster.api("GET", "/api/v1/namespaces/default/services/kubernetes");
    const apiPort = Number(new URL(this.cluster.server).port);
    addLocalAddress(k.spec.clusterIP);
    await this.listen(k.spec.clusterIP, k.spec.ports[0].port, () => [{ ip: "127.0.0.1", port: apiPort }]);
    const services = await this.cluster.api("GET", `/api/v1/namespaces/${this.namespace}/services`);
    for (const s of services.items) {
      if (!s.spec.clusterIP || s.spec.clusterIP === "None") continue;
      addLocalAddress(s.spec.clusterIP);
      for (const p of s.spec.ports) {
        const key = `${s.metadata.name}/${p.name ?? ""}`;
        this.endpoints.set(key, []);
        await this.listen(s.spec.clusterIP, p.port, () => this.endpoints.get(key) ?? []);
      }
    }
    await this.refresh();
    this.loop = setInterval(() => void this.refresh().catch(() => {}), 100);
  }

  /** Ready endpoints of a Service's port, as its EndpointSlices list them now. */
  ready(service: string, portName = ""): { ip: string; port: number }[] {
    return this.endpoints.get(`${service}/${portName}`) ?? [];
  }

  private async refresh(): Promise<void> {
    const slices = await this.cluster.api("GET", `/apis/discovery.k8s.io/v1/namespaces/${this.namespace}/endpointslices`);
    const next = new Map<string, { ip: string; port: number }[]>();
    for (const key of this.endpoints.keys()) next.set(key, []);
    for (const sl of slices.items) {
      const svc = sl.metadata.labels?.["kubernetes.io/service-name"];
      for (const p of sl.ports ?? []) {
        const key = `${svc}/${p.name ?? ""}`;
        if (!next.has(key)) continue;
        for (const ep of sl.endpoints ?? []) if (ep.conditions?.ready !== false) for (const ip of ep.addresses) next.get(key)!.push({ ip, port: p.port });
      }
    }
    this.endpoints = next;
  }

  private listen(ip: string, port: number, targets: () => { ip: string; port: number }[]): Promise<void> {
    const server = createServer((client) => {
      this.sockets.add(client);
      const t = targets();
      if (t.length === 0) {
        client.destroy(); // no endpoints: kube-proxy rejects
        return;
      }
      const target = t[Math.floor(Math.random() * t.length)]!;
      const upstream = createConnection({ host: target.ip, port: target.port });
      this.sockets.add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on("error", close).on("close", close);
      upstream.on("error", close).on("close", close);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, ip, () => resolve());
    });
  }

  async stop(): Promise<void> {
    if (this.loop) clearInterval(this.loop);
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(() => r(null)))));
  }
}

export function cleanupDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
