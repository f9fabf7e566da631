#!/bin/bash
# 512 px faces on a lent 16-core machine before and after the 4-pixel inverse map grid,
# in one run (camera off, two faces a worker, batched, each session paced at 25 fps
# and speaking). REV's packages travel as cache/face_cost_trees/<rev>/avatar (made here
# by benchkit/revision_tree.py; the machine's copy has no git history).
# Carry: the wheels of .whl/ (py-spy not needed), .gl/, and that tree's avatar/.
# Local dry run: PY=.venv/bin/python SMALL=1 OUT=/tmp/devout bash bench/fleet/lent_machine/mapstep16.sh
set -u
cd "$(dirname "$0")/../../.."
t0=$(date +%s)
REV=${REV:-639ee7262f17}
source bench/fleet/lent_machine/setup.sh
if [ -n "${SMALL:-}" ]; then N="2"; S=5; else N="${N:-44}"; S=10; fi
timeout 200 $PY bench/live/density.py --no-camera --sizes 512 --sessions $N --secs $S --faces-per-worker 2 --against $REV --against-same-design --tag device16_s5_mapstep
cp bench/results/density_device16_s5_mapstep.* $OUT/ ; echo "done $(( $(date +%s) - t0 )) s"
