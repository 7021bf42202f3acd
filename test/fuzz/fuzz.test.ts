// The fuzzing harness in the suite (issue 12): the regression frames, then the corpus captured from KafkaJS, kcat,
// confluent-kafka-python, the Java client and franz-go, then mutations of it (bytes, and fields through the
// generated codecs) until KLITE_FUZZ_FRAMES frames (20,000 by default) are sent or 200 s pass. The broker must log no
// handler exception, answer only with responses that decode, keep answering a healthy connection, stay within its
// memory budget and stop cleanly. A failure prints the frame as hex; scripts/fuzz saves such frames under
// test/fuzz/regressions/ (this test replays them first). Seed: KLITE_FUZZ_SEED (random otherwise, printed): a seed
// sends the same frames in the same order (which of the 16 connections carries each, and so what the broker holds
// when it arrives, depends on timing). A healthy connection must be answered within 30 s, what a Kafka client waits.
import { expect, test } from "bun:test";
import { loadCorpus } from "./fuzzer.ts";
import { describeFailure, runFuzz } from "./run.ts";

const FRAMES = Number(process.env.KLITE_FUZZ_FRAMES ?? 20_000);
/** The broker's RSS may not pass this while it is fuzzed (a 512 MiB chunk pool plus the runtime and request work). */
const RSS_BUDGET_MIB = 1536;

test("the corpus holds frames of every client", () => {
  const sources = new Set(loadCorpus().map((s) => s.source));
  expect([...sources].sort()).toEqual(["go", "java", "kafkajs", "kcat", "python"]);
});

test(`fuzzing: ${FRAMES} frames from real clients' captures, mutated; the broker stays correct, bounded and alive`, async () => {
  const seed = Number(process.env.KLITE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const stats = await runFuzz({ frames: FRAMES, durationMs: 200_000, seed });
  process.stdout.write(`\n[fuzz] seed ${seed}: ${stats.frames} frames in ${stats.seconds.toFixed(1)} s (${Math.round(stats.framesPerSec)} frames/s; ${stats.answered} answered, ${stats.closed} closed, ${stats.silent} unanswered), broker RSS peak ${Math.round(stats.rssPeakMiB)} MiB, healthy connection answered within ${Math.round(stats.healthMaxMs)} ms\n`);
  if (stats.failure) throw new Error(`fuzz seed ${seed}: ${describeFailure(stats.failure)}`);
  expect(stats.frames).toBeGreaterThanOrEqual(Math.min(FRAMES, 20_000));
  expect(stats.rssPeakMiB).toBeLessThan(RSS_BUDGET_MIB);
}, 280_000);

test("the harness fails a run when the broker stops answering (SIGSTOP), and says so", async () => {
  // The check above must be able to fail: a broker frozen mid-run (as by a frame that blocks its event loop) is noticed
  // through the healthy connection within its bound, and the run stops with that reason (not a pass, not a hang).
  let pid = 0;
  const stats = await runFuzz({
    frames: 1e9,
    durationMs: 60_000,
    seed: 1,
    healthTimeoutMs: 3_000,
    onBroker: (b) => {
      pid = b.pid;
      setTimeout(() => process.kill(b.pid, "SIGSTOP"), 1_500);
      setTimeout(() => process.kill(b.pid, "SIGCONT"), 7_000); // so that it can be stopped at the end
    },
  });
  expect(pid).toBeGreaterThan(0);
  expect(stats.failure?.why).toContain("the broker stopped answering a healthy connection");
  expect(stats.failure?.why).toContain("did not answer within 3000 ms");
  expect(stats.seconds).toBeLessThan(30);
}, 120_000); // the frozen broker is resumed at 7 s and must then stop on SIGTERM (within 30 s, runFuzz checks)
