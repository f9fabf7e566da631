#!/bin/bash
# How many faces a lent 16-core machine holds today (camera off, each session paced at
# 25 fps and speaking, the generator's steps batched as the product runs them): 40 and
# 44 at 512 px with two and three faces a worker (alternated in one run), then 64 and
# 80 at 256 px with six. Carried beside the tree: bench/fleet/lent_machine/setup.sh.
# Local dry run: PY=.venv/bin/python SMALL=1 OUT=/tmp/devout bash bench/fleet/lent_machine/held16.sh
set -u
cd "$(dirname "$0")/../../.."
t0=$(date +%s)
source bench/fleet/lent_machine/setup.sh
if [ -n "${SMALL:-}" ]; then A="2"; C="3"; KS="2"; K6=3; S=5; else A="40 44"; C="64 80"; KS="2 3"; K6=6; S=10; fi
timeout 260 $PY bench/live/density.py --no-camera --sizes 512 --sessions $A --secs $S --faces-per-worker $KS --batch-steps on --tag device16_s5_held512
cp bench/results/density_device16_s5_held512.* $OUT/ ; echo "step1 $(( $(date +%s) - t0 )) s"
timeout 120 $PY bench/live/density.py --no-camera --sizes 256 --sessions $C --secs $S --faces-per-worker $K6 --batch-steps on --tag device16_s5_held256
cp bench/results/density_device16_s5_held256.* $OUT/ ; echo "done $(( $(date +%s) - t0 )) s"
