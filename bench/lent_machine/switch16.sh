#!/bin/bash
# Faces held at 512 px, 3 and 4 sessions a face worker, with Python's GIL switch interval
# at its default (5 ms) and at 1 ms (shim/sitecustomize.py), one after the other on one
# lent 16-core machine. Carry: .whl/ and .gl/ (see density16.sh).
set -u
PY=${PY:-python3}
cd "$(dirname "$0")/../.."
if [ "$PY" = python3 ]; then
  for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD/bench/lent_machine/shim:$PWD
else
  export PYTHONPATH=$PWD/bench/lent_machine/shim:$PWD
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p $OUT
$PY -c "from avatar.render.raster import compile_now; compile_now(); from avatar.render.mouth_compose import compile_now as m; m()" || exit 3
N=${N:-48}; KS=${KS:-3 4}; S=${S:-10}
for SW in "" 0.001; do
  tag=device16_switch${SW:-default}
  AF_SWITCH_INTERVAL=$SW timeout 200 $PY bench/density.py --no-camera --sizes 512 --sessions $N --secs $S --faces-per-worker $KS --tag $tag | tail -1
  cp bench/results/density_$tag.* $OUT/
done
