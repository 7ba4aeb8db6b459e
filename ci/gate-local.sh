#!/usr/bin/env bash
# Quick start, command 1: install what is needed, then gate the kernel of this machine.
# Extra arguments go to `headgate gate` (for example --quick for the short form: about ten
# minutes instead of 33 on the 2-core development VM).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
exec node bin/headgate.js gate "$@"
