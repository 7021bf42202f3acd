// The committed codecs are exactly what scripts/gen-protocol.ts generates from the Kafka message definitions.
// Runs whenever ../shared/kafka-protocol is present (it is beside every CI checkout; users never need it).
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./helpers/broker.ts";

const defs = join(ROOT, "../shared/kafka-protocol/messages");

test.skipIf(!existsSync(defs))("generated protocol codecs match the message definitions", () => {
  const p = Bun.spawnSync([process.execPath, join(ROOT, "scripts/gen-protocol.ts"), "--check"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  expect(p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
  expect(p.stdout.toString()).toMatch(/up to date/);
});
