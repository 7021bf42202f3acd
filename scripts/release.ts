#!/usr/bin/env bun
// npm run release: klite-<version>-<os>-<arch> for every release target (bun build --compile --target, through
// scripts/build.ts, so the flags are the same as dist/klite's), and SHA256SUMS, in dist/release/. The binary for
// this machine is smoke-run by build.ts; the others are checked with `file` for format and architecture.
//
// Each target's Bun runtime comes from the npm registry on first use (~100 MB into ~/.bun/install/cache).
//   bun scripts/release.ts [--out dist/release] [--target linux-arm64 ...]   build (all targets by default)
//   bun scripts/release.ts --checksums [--out dist/release]                  only rewrite SHA256SUMS (after signing)
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { VERSION } from "../src/version.ts";

const ROOT = resolve(import.meta.dir, "..");

/** <os>-<arch> of a release name → Bun's compile target and what `file` says about a good binary. */
export const TARGETS = {
  "linux-x64": { bun: "bun-linux-x64", file: /ELF 64-bit LSB (pie )?executable, x86-64/ },
  "linux-arm64": { bun: "bun-linux-arm64", file: /ELF 64-bit LSB (pie )?executable, ARM aarch64/ },
  "darwin-x64": { bun: "bun-darwin-x64", file: /Mach-O 64-bit (x86_64 )?executable( x86_64)?/ },
  "darwin-arm64": { bun: "bun-darwin-arm64", file: /Mach-O 64-bit (arm64 )?executable( arm64)?/ },
} as const;
export type Target = keyof typeof TARGETS;

export function releaseName(target: Target, version = VERSION): string {
  return `klite-${version}-${target}`;
}

/** SHA256SUMS in sha256sum's format for every klite-* file in dir. */
export function writeChecksums(dir: string): string {
  const lines = readdirSync(dir)
    .filter((f) => f.startsWith("klite-"))
    .sort()
    .map((f) => `${createHash("sha256").update(readFileSync(join(dir, f))).digest("hex")}  ${f}`);
  const path = join(dir, "SHA256SUMS");
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

/** The `file` description of a binary (null if `file` is missing). */
export function describeFile(path: string): string | null {
  const p = Bun.spawnSync(["file", "-b", path], { stdout: "pipe", stderr: "pipe" });
  return p.exitCode === 0 ? p.stdout.toString().trim() : null;
}

async function build(target: Target, outfile: string): Promise<void> {
  const proc = Bun.spawn([process.execPath, join(ROOT, "scripts/build.ts"), "--target", TARGETS[target].bun, "--outfile", outfile], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${target}: build failed:\n${out}${err}`);
  const what = describeFile(outfile);
  if (what !== null && !TARGETS[target].file.test(what)) throw new Error(`${target}: ${outfile} is not the expected binary: ${what}`);
  process.stdout.write(`${out.trim()}${what ? ` — ${what.split(",").slice(0, 2).join(",")}` : ""}\n`);
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const opt = (name: string) => argv.flatMap((a, i) => (a === name && argv[i + 1] ? [argv[i + 1]!] : []));
  const out = resolve(ROOT, opt("--out")[0] ?? "dist/release");
  if (argv.includes("--checksums")) {
    console.log(`wrote ${writeChecksums(out)}`);
    process.exit(0);
  }
  const wanted = opt("--target");
  for (const t of wanted) if (!(t in TARGETS)) throw new Error(`unknown --target ${t} (one of ${Object.keys(TARGETS).join(", ")})`);
  const targets = (wanted.length ? wanted : Object.keys(TARGETS)) as Target[];
  if (existsSync(out)) for (const f of readdirSync(out)) if (f.startsWith("klite-") || f === "SHA256SUMS") rmSync(join(out, f));
  mkdirSync(out, { recursive: true });
  const t0 = performance.now();
  // One at a time: each build holds the whole bundle and a runtime in memory.
  for (const t of targets) await build(t, join(out, releaseName(t)));
  const sums = writeChecksums(out);
  console.log(`klite ${VERSION}: ${targets.length} binaries and ${sums} in ${Math.round((performance.now() - t0) / 1000)} s`);
}
