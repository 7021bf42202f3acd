// This node's role and the rooms that act on its changes (Kubernetes pod labels, /readyz). Without
// --replication-addr a broker is primary from start to stop. Observers never block the broker: a failing or slow
// observer is logged by whoever calls it; only `stopping` is awaited, bounded by the shutdown deadline.
import type { Logger } from "../logger.ts";

export type Role = "primary" | "standby";

export interface RoleObserver {
  /** This node now serves Kafka clients as the primary (called once its listener is up). */
  promoted?(): void | Promise<void>;
  /** This node stopped being primary while still running (lease lost): produce is already refused. */
  demoted?(): void | Promise<void>;
  /** Graceful stop of a primary: awaited (bounded) before the lease is released and the process exits. */
  stopping?(): Promise<void>;
}

/** Calls one phase on every observer; errors are logged, never thrown. Resolves when all have settled. */
export async function notifyRole(observers: readonly RoleObserver[], phase: keyof RoleObserver, logger: Logger): Promise<void> {
  await Promise.all(
    observers.map(async (o) => {
      try {
        await o[phase]?.();
      } catch (e) {
        logger.warn(`role observer failed on ${phase}: ${(e as Error).message}`);
      }
    }),
  );
}
