#!/usr/bin/env bash
# Quick start, command 2: install what is needed, lint, then run the whole test suite (unit and
# integration tests with real nginx, real load and real Chromium on loopback, one at a time).
# Arguments go to vitest only. Lint output comes first so the test runner's counts stay last.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh

# Errors fail the script and are printed in full; warnings (lines over 120 characters,
# functions over 60 lines) are counted per rule: `npx eslint .` lists them.
lint_status=0
npx eslint . --quiet || lint_status=$?
npx eslint . -f json 2>/dev/null | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const by = {};
    for (const f of JSON.parse(s || "[]")) for (const m of f.messages) if (m.severity === 1) by[m.ruleId] = (by[m.ruleId] || 0) + 1;
    const parts = Object.entries(by).map(([r, n]) => `${r} ${n}`);
    console.log(`lint: ${parts.length ? "warnings: " + parts.join(", ") + " (npx eslint . lists them)" : "no warnings"}`);
  });' || true
if [ "$lint_status" -eq 0 ]; then
  # The usual case: vitest takes over this process, so its exit code and signals are direct.
  exec npx vitest run "$@"
fi
echo "headgate: lint failed (eslint exit $lint_status); running the tests anyway" >&2
test_status=0
npx vitest run "$@" || test_status=$?
echo "headgate: lint failed (eslint exit $lint_status), see the eslint output above" >&2
if [ "$test_status" -ne 0 ]; then exit "$test_status"; fi
exit "$lint_status"
