// The two brokers every real-client suite runs against: klite in-process, and the compiled binary as a child
// process. Both listen on 127.0.0.1 with a random port and a temp data dir; stop() shuts the broker down gracefully
// (the binary by pid, SIGKILL after 15 s) and removes the data dir.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { rmSync } from "node:fs";
import { spawnBroker, startBroker } from "./broker.ts";
import { ensureBinary } from "./binary.ts";

export interface Target {
  port: number;
  bootstrap: string;
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** --default-partitions: partitions of auto-created topics. */
  defaultPartitions?: number;
}

export const TARGETS: { name: string; start(opts?: TargetOptions): Promise<Target> }[] = [
  {
    name: "in-process",
    async start(opts = {}) {
      const b = await startBroker(opts.defaultPartitions ? { defaultPartitions: opts.defaultPartitions } : {});
      return {
        port: b.port,
        bootstrap: b.bootstrap,
        async stop() {
          await b.stop();
          b.cleanup();
        },
      };
    },
  },
  {
    name: "compiled binary",
    async start(opts = {}) {
      const args = opts.defaultPartitions ? ["--default-partitions", String(opts.defaultPartitions)] : [];
      const s = await spawnBroker({ command: [await ensureBinary()], args });
      return {
        port: s.port,
        bootstrap: s.bootstrap,
        async stop() {
          s.kill("SIGTERM");
          const code = await Promise.race([s.exited, Bun.sleep(15_000).then(() => "timeout" as const)]);
          if (code === "timeout") {
            s.kill("SIGKILL");
            await s.exited;
          }
          rmSync(s.dataDir, { recursive: true, force: true });
          expect(code).toBe(0); // a graceful stop exits 0
        },
      };
    },
  },
];

/**
 * One describe block per target ("against the broker in-process", "... compiled binary"), with the broker started
 * before its tests (the binary may have to be built first) and stopped after them. `body` gets the running target.
 */
export function describeTargets(opts: TargetOptions, body: (target: () => Target) => void): void {
  for (const { name, start } of TARGETS) {
    describe(`against the broker ${name}`, () => {
      let target: Target | undefined;
      beforeAll(async () => {
        target = await start(opts);
      }, 240_000);
      afterAll(async () => {
        await target?.stop();
      }, 30_000);
      body(() => {
        if (!target) throw new Error(`the ${name} broker did not start`);
        return target;
      });
    });
  }
}
