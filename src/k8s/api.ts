// The PodLabels port on @kubernetes/client-node: credentials from a kubeconfig ($KUBECONFIG) or the pod's service
// account (KUBERNETES_SERVICE_HOST/PORT and /var/run/secrets/kubernetes.io/serviceaccount), requests through the
// generated CoreV1Api.
//
// Under Bun the library's own transport (undici fetch with a TLS dispatcher) loses the cluster CA and client
// certificate: Bun ignores the dispatcher (oven-sh/bun#19754, kubernetes-client/javascript#2627), so every call to
// an API server with a private CA fails with UNABLE_TO_VERIFY_LEAF_SIGNATURE unless NODE_EXTRA_CA_CERTS names it.
// So the API client is given an HTTP library that sends with Bun's fetch and passes the kubeconfig's CA, client
// certificate and key in its `tls` option. Authentication headers (bearer token, re-read from a token file on
// every request, so rotated tokens work) are still applied by the library.
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  ResponseContext,
  ServerConfiguration,
  createConfiguration,
  setHeaderOptions,
  wrapHttpLibrary,
  type RequestContext,
} from "@kubernetes/client-node";
import { delimiter } from "node:path";
import { PodNotFound, type PodLabels } from "./labeller.ts";

export type KubeCredentials = { kind: "kubeconfig"; path: string } | { kind: "in-cluster" };

type HttpsOptions = { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string };

/** An HTTP library for the generated API that sends with Bun's fetch and the kubeconfig's TLS material. */
function bunFetchLibrary(kc: KubeConfig) {
  return wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const https: HttpsOptions = {};
      await kc.applyToHTTPSOptions(https);
      const resp = await fetch(request.getUrl(), {
        method: request.getHttpMethod().toString(),
        body: request.getBody() as string | undefined, // JSON: this client sends no forms
        headers: request.getHeaders(),
        signal: request.getSignal(),
        tls: {
          ca: https.ca?.toString("utf8"),
          cert: https.cert?.toString("utf8"),
          key: https.key?.toString("utf8"),
          rejectUnauthorized: https.rejectUnauthorized,
          serverName: https.servername,
        },
      });
      const headers: Record<string, string> = {};
      resp.headers.forEach((value, name) => (headers[name] = value));
      const bytes = Buffer.from(await resp.arrayBuffer());
      return new ResponseContext(resp.status, headers, {
        text: async () => bytes.toString("utf8"),
        binary: async () => bytes,
        stream: () => new Response(bytes).body,
      });
    },
  });
}

/** The API server's own words from an ApiException (its Status `message`), else the error's message. */
export function apiMessage(e: unknown): string {
  const err = e as { code?: number; body?: unknown; message?: string };
  if (typeof err?.code === "number" && err.body !== undefined) {
    let message: string | undefined;
    try {
      message = (typeof err.body === "string" ? JSON.parse(err.body) : err.body)?.message;
    } catch {
      message = String(err.body).slice(0, 300);
    }
    return `HTTP ${err.code}${message ? `: ${message}` : ""}`;
  }
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  return [err?.message ?? String(e), cause?.code ?? cause?.message].filter(Boolean).join(": ");
}

export class KubePodLabels implements PodLabels {
  readonly describe: string;
  private readonly api: CoreV1Api;

  constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
    credentials: KubeCredentials,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("the kubeconfig has no current cluster");
    this.api = new CoreV1Api(createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      httpApi: bunFetchLibrary(kc),
    }));
    this.describe = `namespace ${namespace} on ${cluster.server} via ${credentials.kind === "in-cluster" ? "the pod's service account" : `kubeconfig ${credentials.path}`}`;
  }

  async patchLabels(pod: string, labels: Record<string, string | null>): Promise<void> {
    try {
      await this.api.patchNamespacedPod(
        { name: pod, namespace: this.namespace, body: { metadata: { labels } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    } catch (e) {
      if ((e as { code?: number }).code === 404) throw new PodNotFound(`pod ${pod} not found in namespace ${this.namespace}`);
      throw new Error(apiMessage(e));
    }
  }

  async podLabels(pod: string): Promise<Record<string, string>> {
    try {
      return (await this.api.readNamespacedPod({ name: pod, namespace: this.namespace })).metadata?.labels ?? {};
    } catch (e) {
      if ((e as { code?: number }).code === 404) throw new PodNotFound(`pod ${pod} not found in namespace ${this.namespace}`);
      throw new Error(apiMessage(e));
    }
  }

  async listPods(labelSelector: string): Promise<string[]> {
    try {
      const list = await this.api.listNamespacedPod({ namespace: this.namespace, labelSelector });
      return list.items.map((p) => p.metadata?.name ?? "").filter((n) => n !== "");
    } catch (e) {
      throw new Error(apiMessage(e));
    }
  }
}

/** A KubeConfig from the given credentials; a KUBECONFIG-style list of files is merged, the first one's context wins. */
export function loadKubeConfig(credentials: KubeCredentials): KubeConfig {
  const kc = new KubeConfig();
  if (credentials.kind === "in-cluster") {
    kc.loadFromCluster();
    return kc;
  }
  const [first, ...rest] = credentials.path.split(delimiter).filter(Boolean);
  kc.loadFromFile(first!);
  for (const file of rest) {
    const more = new KubeConfig();
    more.loadFromFile(file);
    kc.mergeConfig(more, true);
  }
  return kc;
}

export function contextNamespace(kc: KubeConfig): string | undefined {
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace || undefined;
}
