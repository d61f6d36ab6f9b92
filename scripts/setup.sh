#!/usr/bin/env bash
# Set up alignkit on a fresh machine: .venv at the repo root, the package, the offline
# models and data it needs. Safe to rerun (it only adds what is missing).
#   scripts/setup.sh           the package, offline encoders and data sets
#   scripts/setup.sh --test    also the test tools (pytest, headless Chromium for report tests)
set -euo pipefail
cd "$(dirname "$0")/.."
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

echo "== installing alignkit and its pinned dependencies (torch from local disk where present)"
extras="offline,onnx"
[[ $want_test == 1 ]] && extras="offline,onnx,test"
"${PIP[@]}" install -c requirements/constraints.txt -e ".[${extras}]"
# Installed without dependencies on purpose: see the comments in the file.
"${PIP[@]}" install --no-deps -r requirements/offline-nodeps.txt

# System packages for built-in data sets (and the report test's browser). Optional: without
# root, alignkit says what is missing and carries on with the sets that are available.
apt_pkgs=(dataset-fashion-mnist openclipart-svg)
[[ $want_test == 1 ]] && apt_pkgs+=(chromium)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "== apt-get install ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "note: not root, skipping Debian packages ${missing[*]} (install them with apt-get to enable those data sets)"
  fi
fi

echo "== fetching built-in data sets"
.venv/bin/alignkit data fetch emoji emoji-apple emoji-facebook emoji-noto-v1 emoji-emojione fashion-mnist animal-mnist mnist clipart icons \
  || echo "note: some data sets could not be fetched; see 'alignkit data list'"
echo "== setup done"
