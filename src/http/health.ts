// --health-addr: GET /livez (the process serves HTTP) and GET /readyz (200 once start-up recovery is done, with the
// role in the body, "primary" or "standby"; 503 before). Kubernetes probes use them; both modes keep every pod
// Ready. In replicated mode GET /replication tells the node's replication state as JSON (role, epoch, the standby
// and whether it is in sync, or the primary this node follows).
import type { Server } from "bun";

export interface HealthState {
  ready(): boolean;
  role(): string;
  /** Replicated mode: the node's replication state as JSON (GET /replication). */
  replication?(): unknown;
}

export function startHealthServer(host: string, port: number, state: HealthState): Server<undefined> {
  return Bun.serve({
    hostname: host === "" ? "0.0.0.0" : host,
    port,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/livez") return new Response("ok\n");
      if (path === "/readyz") return state.ready() ? new Response(`${state.role()}\n`) : new Response("starting\n", { status: 503 });
      if (path === "/replication" && state.replication) return Response.json(state.replication());
      return new Response("not found\n", { status: 404 });
    },
  });
}
