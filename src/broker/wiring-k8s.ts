// Wiring of the Kubernetes pod-role labeller (src/k8s/): on when POD_NAME is set (the chart sets it from the
// downward API) and credentials are found: $KUBECONFIG, else the pod's mounted service account. Otherwise a no-op
// that says why once at debug level. Nothing here can stop the broker from starting.
import { existsSync } from "node:fs";
import type { Config } from "../config.ts";
import type { Logger } from "../logger.ts";
import type { KubeCredentials } from "../k8s/api.ts";
import { PodRoleLabeller } from "../k8s/labeller.ts";
import type { RoleObserver } from "./roles.ts";

export const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export function kubeCredentials(env: Record<string, string | undefined>): KubeCredentials | null {
  if (env.KUBECONFIG) return { kind: "kubeconfig", path: env.KUBECONFIG };
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT && existsSync(SERVICE_ACCOUNT_TOKEN)) return { kind: "in-cluster" };
  return null;
}

export async function podRoleObservers(config: Config, env: Record<string, string | undefined>, logger: Logger): Promise<RoleObserver[]> {
  const pod = env.POD_NAME;
  if (!pod) {
    logger.debug("pod role labels off: POD_NAME is not set (not running in Kubernetes)");
    return [];
  }
  const credentials = kubeCredentials(env);
  if (!credentials) {
    logger.debug(`pod role labels off: POD_NAME=${pod} but no Kubernetes credentials (KUBECONFIG is not set, no service account token at ${SERVICE_ACCOUNT_TOKEN})`);
    return [];
  }
  try {
    // Loaded only in Kubernetes: the client costs start-up time that other brokers need not pay.
    const { KubePodLabels, contextNamespace, loadKubeConfig } = await import("../k8s/api.ts");
    const kc = loadKubeConfig(credentials);
    const namespace = env.POD_NAMESPACE || contextNamespace(kc) || "default";
    const api = new KubePodLabels(kc, namespace, credentials);
    logger.info(`pod role labels on: pod ${pod} in ${api.describe}${config.labelSelector ? `; siblings: ${config.labelSelector}` : ""}`);
    const labeller = new PodRoleLabeller(api, { pod, siblingSelector: config.labelSelector ?? "" }, logger);
    labeller.start();
    return [labeller];
  } catch (e) {
    logger.warn(`pod role labels off: cannot load the Kubernetes credentials (${credentials.kind === "kubeconfig" ? credentials.path : "service account"}): ${(e as Error).message}`);
    return [];
  }
}
