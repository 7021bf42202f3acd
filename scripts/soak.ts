// scripts/soak: the crash soak of test/e2e/crash.test.ts (test/helpers/soak.ts) for as many cycles as asked, against
// `bun src/main.ts` or, with --binary, the compiled dist/klite (built if missing). Prints each crash, the restart
// times and the verdict; exits 1 when an acknowledged record is missing, moved or duplicated.
//
//   scripts/soak --cycles 200              scripts/soak --cycles 50 --binary --partitions 8
import { ensureBinary } from "../test/helpers/binary.ts";
import { javaClient } from "../test/helpers/java-peer.ts";
import { soak } from "../test/helpers/soak.ts";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const cycles = Number(flag("cycles") ?? 30);
const partitions = Number(flag("partitions") ?? 3);
const java = await javaClient();
if (!java.ok) {
  console.error(`the Java client peer is needed: ${java.reason}`);
  process.exit(2);
}
const command = args.includes("--binary") ? [await ensureBinary()] : undefined;
try {
  const r = await soak({ cycles, partitions, command, log: (s) => console.log(`[soak] ${s}`) });
  const sorted = [...r.restartsMs].sort((a, b) => a - b);
  const q = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0);
  console.log(`[soak] ${r.cycles} kill -9 cycles in ${r.seconds.toFixed(0)} s: ${r.acked} records acknowledged, every one exactly once at its offset; restarts median ${q(0.5)} ms, max ${q(1)} ms`);
  process.exit(0);
} catch (e) {
  console.error(`[soak] FAILED: ${(e as Error).message}`);
  process.exit(1);
}
