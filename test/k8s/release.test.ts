// `npm run release`: klite-<version>-<os>-<arch> for linux x64/arm64 and darwin x64/arm64 with SHA256SUMS. The
// binary for this machine runs (`--version` names the version and the commit, and it ignores a bunfig.toml and a
// .env in its working directory); the others are checked with `file` for their format and architecture. Each
// target's Bun runtime comes from the npm registry on first use (into ~/.bun/install/cache).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, spawnBroker } from "../helpers/broker.ts";
import { run } from "../helpers/peers.ts";
import { TARGETS, describeFile, releaseName, type Target } from "../../scripts/release.ts";
import { VERSION, gitCommit } from "../../src/version.ts";

let out: string;
let buildLog = "";
const native: Target = `${process.platform === "darwin" ? "darwin" : "linux"}-${process.arch === "arm64" ? "arm64" : "x64"}` as Target;

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), "klite-release-"));
  buildLog = await run([process.execPath, join(ROOT, "scripts/release.ts"), "--out", out], { cwd: ROOT, timeoutMs: 20 * 60_000 });
}, 20 * 60_000);

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true });
});

describe("npm run release", () => {
  test("one binary per target and SHA256SUMS that sha256sum accepts", async () => {
    const expected = (Object.keys(TARGETS) as Target[]).map((t) => releaseName(t)).sort();
    expect(expected).toEqual([`klite-${VERSION}-darwin-arm64`, `klite-${VERSION}-darwin-x64`, `klite-${VERSION}-linux-arm64`, `klite-${VERSION}-linux-x64`]);
    expect(readdirSync(out).sort()).toEqual([...expected, "SHA256SUMS"].sort());
    const sums = await run(["sha256sum", "-c", "SHA256SUMS"], { cwd: out });
    expect(sums.trim().split("\n").sort()).toEqual(expected.map((f) => `${f}: OK`));
    for (const f of expected) expect(statSync(join(out, f)).size).toBeGreaterThan(40 * 2 ** 20);
    console.log(`[release] ${buildLog.trim().split("\n").join("\n[release] ")}`);
  });

  test("every binary is an executable of its target's format and architecture", () => {
    for (const t of Object.keys(TARGETS) as Target[]) {
      const what = describeFile(join(out, releaseName(t)));
      if (what === null) throw new Error("`file` is not installed");
      expect(`${t}: ${what}`).toMatch(new RegExp(`^${t}: ${TARGETS[t].file.source}`));
    }
  });

  test("the native binary prints its version and commit", () => {
    const p = Bun.spawnSync([join(out, releaseName(native)), "--version"], { cwd: "/", env: { PATH: "/nonexistent" }, stdout: "pipe" });
    expect(p.exitCode).toBe(0);
    const commit = gitCommit(ROOT);
    expect(commit).toMatch(/^[0-9a-f]{12}(-dirty)?$/);
    expect(p.stdout.toString().trim()).toBe(`klite ${VERSION} (commit ${commit})`);
  });

  test("the native binary reads no bunfig.toml or .env from its working directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), "klite-autoload-"));
    try {
      const exe = join(dir, "klite");
      copyFileSync(join(out, releaseName(native)), exe);
      const marker = join(dir, "preloaded");
      writeFileSync(join(dir, "preload.ts"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "yes");\n`);
      writeFileSync(join(dir, "bunfig.toml"), `preload = ["./preload.ts"]\n[test]\npreload = ["./preload.ts"]\n`);
      writeFileSync(join(dir, ".env"), "KLITE_NODE_ID=7\nKLITE_LOG_LEVEL=silent\n");
      const b = await spawnBroker({ command: [exe], cwd: dir, env: { PATH: "/nonexistent" } });
      expect(b.output()).toContain("node id 0");
      b.kill("SIGTERM");
      expect(await b.exited).toBe(0);
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
