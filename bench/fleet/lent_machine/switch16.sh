#!/bin/bash
# Faces held at 512 px, 3 and 4 sessions a face worker, with Python's GIL switch interval
# at its default (5 ms) and at 1 ms (shim/sitecustomize.py), one after the other on one
# lent 16-core machine. Carry: .whl/ and .gl/ (bench/fleet/lent_machine/setup.sh).
set -u
cd "$(dirname "$0")/../../.."
source bench/fleet/lent_machine/setup.sh
N=${N:-48}; KS=${KS:-3 4}; S=${S:-10}
for SW in "" 0.001; do
  tag=device16_switch${SW:-default}
  AF_SWITCH_INTERVAL=$SW timeout 200 $PY bench/live/density.py --no-camera --sizes 512 --sessions $N --secs $S --faces-per-worker $KS --tag $tag | tail -1
  cp bench/results/density_$tag.* $OUT/
done
