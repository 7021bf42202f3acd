// scripts/fuzz: the fuzzing harness of test/fuzz/ for as long as wanted. Prints frames, frames/s and the broker's RSS
// peak every few seconds; on a failure prints the frame as hex, saves it under test/fuzz/regressions/ (the test
// replays it from then on) and exits 1.
//
//   scripts/fuzz --duration 10m            scripts/fuzz --frames 1000000 --seed 42 --concurrency 32
import { parseDuration } from "../src/config.ts";
import { describeFailure, runFuzz, saveRegression } from "../test/fuzz/run.ts";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const frames = Number(flag("frames") ?? Infinity);
const durationMs = flag("duration") ? parseDuration(flag("duration")!) ?? NaN : frames === Infinity ? 60_000 : Infinity;
const seed = Number(flag("seed") ?? Math.floor(Math.random() * 2 ** 31));
const concurrency = Number(flag("concurrency") ?? 16);
if (!Number.isFinite(durationMs) && !Number.isFinite(frames)) {
  console.error("usage: scripts/fuzz [--frames N] [--duration 10m] [--seed S] [--concurrency C]");
  process.exit(2);
}
let last = 0;
const stats = await runFuzz({
  frames,
  durationMs,
  seed,
  concurrency,
  progress: (s) => {
    if (s.seconds - last < 5) return;
    last = s.seconds;
    console.log(`[fuzz] ${s.frames} frames, ${Math.round(s.framesPerSec)} frames/s, broker RSS peak ${Math.round(s.rssPeakMiB)} MiB`);
  },
});
console.log(`[fuzz] seed ${seed}: ${stats.frames} frames in ${stats.seconds.toFixed(1)} s, ${Math.round(stats.framesPerSec)} frames/s (${stats.answered} answered, ${stats.closed} closed, ${stats.silent} unanswered), broker RSS peak ${Math.round(stats.rssPeakMiB)} MiB, healthy connection answered within ${Math.round(stats.healthMaxMs)} ms`);
if (stats.failure) {
  console.error(`[fuzz] FAILED: ${describeFailure(stats.failure)}`);
  if (stats.failure.frame.length) console.error(`[fuzz] saved as a regression: ${saveRegression(stats.failure)}`);
  process.exit(1);
}
process.exit(0);
