#!/usr/bin/env bash
# npm test: the whole suite (unit, integration with real clients, e2e on the compiled binary). Test peers are
# installed on first use (see test/helpers/peers.ts). Ends with one line "N passed, N failed, N skipped", counted from bun's
# JUnit report. Extra arguments go to `bun test` (e.g. a path filter). The test root and preload are in bunfig.toml;
# the per-test timeout stays here (bun reads none from bunfig.toml).
set -u
cd "$(dirname "$0")/.."
BUN=node_modules/.bin/bun
mkdir -p test-results
rm -f test-results/junit.xml
"$BUN" test --timeout=300000 --reporter=junit --reporter-outfile=test-results/junit.xml "$@"
code=$?
"$BUN" scripts/junit-summary.ts test-results/junit.xml || code=1
exit $code
