#!/bin/bash
# Live faces held at 25 fps on a lent 16-core machine (Python 3.12 with torch, numpy,
# numba, OpenCV, tqdm and matplotlib; nothing fetched), camera off: a process per
# session (the design before multi-session face workers) against four sessions per
# face worker process, in one run; then the serial variant and 256 px.
# What travels beside the tree: bench/fleet/lent_machine/setup.sh.
# Local dry run: PY=.venv/bin/python SMALL=1 OUT=/tmp/devout bash bench/fleet/lent_machine/density16.sh
set -u
cd "$(dirname "$0")/../../.."
t0=$(date +%s)
source bench/fleet/lent_machine/setup.sh
$PY -c "import torch, numpy, numba, cv2, mediapipe, soxr, av; print(torch.__version__, numpy.__version__, numba.__version__, cv2.__version__, av.__file__)" || exit 2
$PY -c "from avatar.portrait import Portrait, default_portrait_path; print(Portrait.load(default_portrait_path()).name)" || exit 4
if [ -n "${SMALL:-}" ]; then A="2"; B="2"; C="3"; K=2; K6=3; S=6; else A="36 64"; B="64"; C="96"; K=4; K6=6; S=10; fi
timeout 280 $PY bench/live/density.py --no-camera --sizes 512 --sessions $A --secs $S --faces-per-worker 0 $K --tag device16_512
cp bench/results/density_device16_512.* $OUT/ ; echo "step1 $(( $(date +%s) - t0 )) s"
timeout 100 $PY bench/live/density.py --no-camera --sizes 256 --sessions $C --secs $S --faces-per-worker $K6 --tag device16_256
cp bench/results/density_device16_256.* $OUT/ ; echo "step2 $(( $(date +%s) - t0 )) s"
timeout 75 $PY bench/live/density.py --no-camera --sizes 512 --sessions $B --secs $S --faces-per-worker $K --serial --tag device16_512_serial
cp bench/results/density_device16_512_serial.* $OUT/ ; echo "done $(( $(date +%s) - t0 )) s"
