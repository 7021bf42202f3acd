#!/usr/bin/env bun
// npm run build: the single executable dist/klite (bun build --compile). Flags per notes/bun-platform.md §8:
// --bytecode needs --format=esm (without it the build prints an error yet exits 0), and the binary must not pick
// up a .env or bunfig.toml from whatever directory it is started in. The commit is baked in for `klite --version`
// (KLITE_COMMIT overrides git). A binary for this machine is smoke-run before success.
//   bun scripts/build.ts [--target bun-linux-arm64] [--outfile dist/klite-arm64]
import { existsSync, mkdirSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { gitCommit } from "../src/version.ts";

const ROOT = resolve(import.meta.dir, "..");
const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const target = opt("--target");
const outfile = resolve(ROOT, opt("--outfile") ?? "dist/klite");
mkdirSync(resolve(outfile, ".."), { recursive: true });

const commit = process.env.KLITE_COMMIT || gitCommit(ROOT) || "unknown";
const cmd = [
  process.execPath, "build", "--compile", "--minify", "--bytecode", "--format=esm",
  "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", `--define=KLITE_COMMIT=${JSON.stringify(commit)}`,
  ...(target ? [`--target=${target}`] : []),
  "src/main.ts", "--outfile", outfile,
];
const t0 = performance.now();
const proc = Bun.spawnSync(cmd, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
const out = proc.stdout.toString() + proc.stderr.toString();
if (proc.exitCode !== 0 || /error/i.test(out) || !existsSync(outfile)) {
  console.error(out);
  console.error(`build failed (exit ${proc.exitCode})`);
  process.exit(1);
}
if (!target || target.startsWith(`bun-linux-${process.arch === "arm64" ? "arm64" : "x64"}`)) {
  const smoke = Bun.spawnSync([outfile, "--version"], { cwd: "/", env: { PATH: "/nonexistent" }, stdout: "pipe", stderr: "pipe" });
  const version = smoke.stdout.toString().trim();
  if (smoke.exitCode !== 0 || !/^klite \d+\.\d+\.\d+.* \(commit [^)]+\)$/.test(version)) {
    console.error(`smoke run of ${outfile} --version failed (exit ${smoke.exitCode}): ${smoke.stderr.toString()}`);
    process.exit(1);
  }
}
const mib = (statSync(outfile).size / 1024 / 1024).toFixed(1);
console.log(`built ${outfile} (${mib} MiB) in ${Math.round(performance.now() - t0)} ms`);
