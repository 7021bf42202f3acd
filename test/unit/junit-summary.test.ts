// The last line of `npm test` / `.ci/run`: "N passed, N failed, N skipped" from bun's JUnit report.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, ROOT, tempDir } from "../helpers/broker.ts";

function summary(xml: string | null): { out: string; code: number | null } {
  const dir = tempDir();
  const path = join(dir, "junit.xml");
  if (xml !== null) writeFileSync(path, xml);
  const p = Bun.spawnSync([BUN, join(ROOT, "scripts/junit-summary.ts"), path], { stdout: "pipe", stderr: "pipe" });
  return { out: p.stdout.toString().trim(), code: p.exitCode };
}

test("counts passed, failed and skipped test cases; exits 1 on failures or a missing report", () => {
  const xml = `<testsuites><testsuite name="a">
    <testcase name="ok" /><testcase name="ok2"></testcase>
    <testcase name="bad"><failure message="x" /></testcase>
    <testcase name="skip"><skipped /></testcase><testcase name="skip2"><skipped message="peer" /></testcase>
  </testsuite></testsuites>`;
  expect(summary(xml)).toEqual({ out: "2 passed, 1 failed, 2 skipped", code: 1 });
  expect(summary(`<testsuites><testcase name="ok" /></testsuites>`)).toEqual({ out: "1 passed, 0 failed, 0 skipped", code: 0 });
  expect(summary(null)).toEqual({ out: "0 passed, 1 failed, 0 skipped", code: 1 });
});
