// The crash soak (issue 12): the compiled klite under a real Java producer (acks=all, idempotent, several requests in
// flight, unique keys), SIGKILLed every couple of seconds and restarted on the same port and data dir, 30 times
// (KLITE_SOAK_CYCLES). Every record the producer saw acknowledged must be in the log exactly once, at exactly the
// partition and offset it was acknowledged at, and no key may appear twice anywhere (retries across the crashes must
// be deduplicated). scripts/soak runs the same for as many cycles as asked.
import { expect, test } from "bun:test";
import { ensureBinary } from "../helpers/binary.ts";
import { JAVA_PEER_NAME, javaClient } from "../helpers/java-peer.ts";
import { describeWithPeer } from "../helpers/peers.ts";
import { soak } from "../helpers/soak.ts";

const java = await javaClient();
const CYCLES = Number(process.env.KLITE_SOAK_CYCLES ?? 30);

describeWithPeer(JAVA_PEER_NAME, java, () => {
  test(`SIGKILL ×${CYCLES} under an acks=all idempotent Java producer: every acked record exactly once, at its acked offset`, async () => {
    const lines: string[] = [];
    const log = (s: string) => lines.push(`${new Date().toISOString()} ${s}`);
    try {
      const r = await soak({ cycles: CYCLES, command: [await ensureBinary()], log });
      expect(r.acked).toBeGreaterThanOrEqual(200 * (CYCLES + 1));
      expect(r.records).toBe(r.acked);
      process.stdout.write(`\n[crash test] ${lines.join("\n[crash test] ")}\n`);
    } catch (e) {
      process.stderr.write(`\n[crash test] ${lines.join("\n[crash test] ")}\n`);
      throw e;
    }
  }, 900_000);
});
