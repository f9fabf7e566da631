#!/bin/bash
# Faces held on a lent 16-core machine with the generator's steps batched across a
# worker's sessions, against the same workers stepping each session alone, alternated
# in one run (camera off, each session paced at 25 fps and speaking, all in phase as
# the bench starts them); then 64 at 512 px and 96 at 256 px, batched.
# Carried beside the tree: bench/fleet/lent_machine/setup.sh (.whl/ and .gl/).
# Local dry run: PY=.venv/bin/python SMALL=1 OUT=/tmp/devout bash bench/fleet/lent_machine/batch16.sh
set -u
cd "$(dirname "$0")/../../.."
t0=$(date +%s)
source bench/fleet/lent_machine/setup.sh
if [ -n "${SMALL:-}" ]; then A="3"; B="3"; C="3"; K=3; K6=3; S=5; else A="48 56"; B="64"; C="96"; K=3; K6=6; S=10; fi
timeout 300 $PY bench/live/density.py --no-camera --sizes 512 --sessions $A --secs $S --faces-per-worker $K --batch-steps off on --tag device16_s5_batch
cp bench/results/density_device16_s5_batch.* $OUT/ ; echo "step1 $(( $(date +%s) - t0 )) s"
timeout 100 $PY bench/live/density.py --no-camera --sizes 256 --sessions $C --secs $S --faces-per-worker $K6 --batch-steps on --tag device16_s5_256
cp bench/results/density_device16_s5_256.* $OUT/ ; echo "step2 $(( $(date +%s) - t0 )) s"
timeout 90 $PY bench/live/density.py --no-camera --sizes 512 --sessions $B --secs $S --faces-per-worker $K --batch-steps on --tag device16_s5_64
cp bench/results/density_device16_s5_64.* $OUT/ ; echo "done $(( $(date +%s) - t0 )) s"
