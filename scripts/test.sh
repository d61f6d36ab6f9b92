#!/usr/bin/env bash
# Set up (with test tools) and run the whole test suite; CI (.ci/run) calls exactly this.
#   scripts/test.sh            every test (the README's test command)
#   scripts/test.sh --fast     the tests not marked slow (pytest -m "not slow"), a few minutes on 2 cores
# Other arguments go to pytest (e.g. scripts/test.sh --fast tests/align).
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for a in "$@"; do
  if [[ "$a" == "--fast" ]]; then args+=(-m "not slow"); else args+=("$a"); fi
done
scripts/setup.sh --test
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q ${args[@]+"${args[@]}"}
