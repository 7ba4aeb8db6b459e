#!/usr/bin/env bash
# Quick start, command 2: install what is needed, then run the whole test suite (unit and
# integration tests with real nginx, real load and real Chromium on loopback, one at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
exec npx vitest run "$@"
