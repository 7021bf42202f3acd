#!/usr/bin/env bun
// Prints "N passed, N failed, N skipped" from a JUnit XML report (bun test --reporter=junit): the last line of
// `npm test` and `.ci/run`, still parseable as "N passed, N failed". Exits 1 when the report is missing or shows
// failures.
import { existsSync, readFileSync } from "node:fs";

const path = process.argv[2] ?? "test-results/junit.xml";
if (!existsSync(path)) {
  console.log("0 passed, 1 failed, 0 skipped");
  console.error(`no test report at ${path}: the test run did not finish`);
  process.exit(1);
}
const xml = readFileSync(path, "utf8");
let passed = 0;
let failed = 0;
let skipped = 0;
for (const m of xml.matchAll(/<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const body = m[2] ?? "";
  if (/<skipped\b/.test(body)) {
    skipped++;
    continue;
  }
  if (/<(failure|error)\b/.test(body)) failed++;
  else passed++;
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
