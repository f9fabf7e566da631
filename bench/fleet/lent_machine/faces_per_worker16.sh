#!/bin/bash
# Faces held at 512 px on a lent 16-core machine with 2, 3 and 4 sessions a face worker
# process, in one run (camera off, each session paced at 25 fps and speaking), then
# how much of a 4-session worker's time holds the GIL (py-spy --gil) and what holds it.
# Carried beside the tree: bench/fleet/lent_machine/setup.sh.
# Local dry run: PY=.venv/bin/python SMALL=1 OUT=/tmp/devout bash bench/fleet/lent_machine/faces_per_worker16.sh
set -u
cd "$(dirname "$0")/../../.."
t0=$(date +%s)
source bench/fleet/lent_machine/setup.sh
if [ -n "${SMALL:-}" ]; then N="2"; KS="2"; P=2; PK=2; S=6; else N="${N:-48}"; KS="${KS:-2 3 4}"; P=16; PK=4; S=10; fi
timeout 330 $PY bench/live/density.py --no-camera --sizes 512 --sessions $N --secs $S --faces-per-worker $KS --tag device16_k
cp bench/results/density_device16_k.* $OUT/ ; echo "density $(( $(date +%s) - t0 )) s"
# the GIL: a worker of PK sessions, P sessions in all, sampled for 8 s mid-run
timeout 150 $PY bench/live/density.py --no-camera --sizes 512 --sessions $P --secs 40 --faces-per-worker $PK --tag device16_gil > $OUT/gil_density.log 2>&1 &
sleep 45
PID=$(ps -eo pid,pcpu,args --sort=-pcpu | grep -v grep | grep forkserver | head -1 | awk '{print $1}')
echo "profiling worker $PID"; ps -o pid,nlwp,pcpu,rss -p $PID
timeout 30 $SPY record --pid $PID --gil --rate 200 --duration 8 --format raw -o $OUT/gil_held.txt --nonblocking
timeout 30 $SPY record --pid $PID --rate 200 --duration 8 --format raw -o $OUT/all_threads.txt --nonblocking --threads
wait
echo "gil samples $(awk '{s+=$NF} END {print s}' $OUT/gil_held.txt) of $((200 * 8))"
echo "done $(( $(date +%s) - t0 )) s"
