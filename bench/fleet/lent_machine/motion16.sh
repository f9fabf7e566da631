#!/bin/bash
# Faces drawn by their pages (motion frames only) on a lent 16-core machine, every
# session's server part in ONE driver process as the product's one server process holds
# them (camera off, each session paced at 25 fps and speaking, eight a face worker,
# batched): 24 to 96 sessions; then the server-painted face housed the same way (two a
# worker), 24 and 40; then the pages' faces with a driver process a worker, to see what
# the face workers alone hold. Carried beside the tree: bench/fleet/lent_machine/setup.sh.
# Local dry run: PY=.venv/bin/python SMALL=1 OUT=/tmp/devout bash bench/fleet/lent_machine/motion16.sh
set -u
cd "$(dirname "$0")/../../.."
t0=$(date +%s)
source bench/fleet/lent_machine/setup.sh
nproc --all; uptime; free -g | head -2
if [ -n "${SMALL:-}" ]; then A="2 4"; B="2"; C="4"; S=5; else A="24 40 64 96"; B="24 40"; C="160"; S=8; fi
timeout 250 $PY bench/live/density.py --no-camera --sizes 512 --sessions $A --secs $S --faces-per-worker 8 --drawn-by client --one-server --tag device16_s6_motion
cp bench/results/density_device16_s6_motion.* $OUT/ ; echo "step1 $(( $(date +%s) - t0 )) s"
timeout 130 $PY bench/live/density.py --no-camera --sizes 512 --sessions $B --secs $S --faces-per-worker 2 --one-server --tag device16_s6_pixels
cp bench/results/density_device16_s6_pixels.* $OUT/ ; echo "step2 $(( $(date +%s) - t0 )) s"
timeout 120 $PY bench/live/density.py --no-camera --sizes 512 --sessions $C --secs $S --faces-per-worker 8 --drawn-by client --tag device16_s6_motion_spread
cp bench/results/density_device16_s6_motion_spread.* $OUT/ ; echo "done $(( $(date +%s) - t0 )) s"
