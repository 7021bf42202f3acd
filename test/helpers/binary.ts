// The compiled executable for e2e tests: built once per test run (npm run build) unless a fresh one exists.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./broker.ts";

export const BINARY = join(ROOT, "dist", "klite");
let built: Promise<string> | null = null;

function newestSource(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Path of dist/klite, rebuilt when any file under src/ is newer. */
export function ensureBinary(): Promise<string> {
  built ??= (async () => {
    if (existsSync(BINARY) && statSync(BINARY).mtimeMs > Math.max(newestSource(join(ROOT, "src")), statSync(join(ROOT, "package.json")).mtimeMs)) return BINARY;
    const proc = Bun.spawn([process.execPath, join(ROOT, "scripts/build.ts")], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new Error(`npm run build failed:\n${out}\n${err}`);
    return BINARY;
  })();
  return built;
}
