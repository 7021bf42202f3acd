// The GitHub Actions workflows cannot run here; actionlint checks them (syntax, expressions, job needs, action
// inputs, runner labels). And the release workflow does what the release needs, in order.
import { expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "../helpers/broker.ts";
import { actionlint } from "../helpers/actionlint.ts";
import { describeWithPeer, run } from "../helpers/peers.ts";

const linter = await actionlint();
const DIR = join(ROOT, ".github", "workflows");

describeWithPeer("GitHub Actions workflows", linter, () => {
  test("actionlint finds nothing", async () => {
    const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(DIR, f));
    expect(files.length).toBeGreaterThan(0);
    const out = await run([linter.ok ? linter.path : "actionlint", "-no-color", ...files], { cwd: ROOT, timeoutMs: 120_000 }).catch((e: Error) => e.message);
    expect(out.trim()).toBe("");
  });

  test("a version tag publishes the binaries, the multi-arch image and the chart as an OCI artifact", () => {
    const wf = readFileSync(join(DIR, "release.yml"), "utf8");
    expect(wf).toMatch(/tags: \["v\[0-9\]/);
    expect(wf).toContain("npm run release");
    expect(wf).toContain("sha256sum klite-* > SHA256SUMS");
    expect(wf).toContain("file: Dockerfile.distroless");
    expect(wf).toContain("platforms: linux/amd64,linux/arm64");
    expect(wf).toMatch(/helm push "dist\/chart\/klite-\$\{VERSION\}\.tgz" "\$\{CHARTS\}"/);
  });
});
