"""Figure: bench/results/webrtc_vanished.json and .png, how long a WebRTC session lives
on in the server after its visitor's browser closes without hanging up, and what it
costs meanwhile: this tree against `--against REV`, alternated, in one run.

The product server (`avatar-forcing serve` on its defaults), headless Chromium on
the kiosk page over WebRTC (fake microphone and camera, no question), `--open-secs`
connected, then the browser closed: no goodbye reaches the server, as when a window
is shut or a laptop closed. `freed_secs` is the time from the close until the
server's `/healthz` counts no session; `server_cpu_percent` the server process's
CPU over the first `--watch-secs` after the close (% of one core; its face worker's
is not counted). The earlier tree's server runs from a git worktree of REV
(benchkit/revision_tree.py) with the same packages.

    .venv/bin/python bench/webrtc/webrtc_vanished.py [--against REV] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchkit.bench_args import run_async_figure, save_plot
from benchkit.browser_media import write_fake_camera_y4m, write_fake_mic_wav
from benchkit.kiosk_page import kiosk_page
from benchkit.kiosk_server import free_port, product_server
from benchkit.paths import RESULTS, ROOT
from benchkit.proc_cpu import proc_cpu
from benchkit.revision_tree import baseline_tree


def sessions(http: str) -> int:
    with urllib.request.urlopen(f"{http}/healthz", timeout=5) as response:
        return int(json.load(response)["sessions"])


async def one_round(root: Path, open_secs: float, watch_secs: float, wav: Path, y4m: Path
                    ) -> dict[str, Any]:
    """A server from `root`, a visitor over WebRTC who closes the browser."""
    with product_server(free_port(), root=root) as (http, pid):
        async with kiosk_page(http, wav, y4m, "?transport=webrtc"):
            await asyncio.sleep(open_secs)
            live = sessions(http)
        closed_at, cpu_at_close = time.monotonic(), proc_cpu([pid])
        freed_secs = None
        while (elapsed := time.monotonic() - closed_at) < watch_secs:
            if freed_secs is None and sessions(http) == 0:
                freed_secs = round(elapsed, 1)
            await asyncio.sleep(0.25)
        cpu = 100 * (proc_cpu([pid]) - cpu_at_close) / (time.monotonic() - closed_at)
    return {"sessions_while_open": live, "freed_secs": freed_secs,
            "server_cpu_percent": round(cpu, 1)}


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for offset, variant in ((-0.2, "before"), (0.2, "after")):
        rounds = [r for r in result["rounds"] if r["variant"] == variant]
        axis.bar(np.arange(len(rounds)) + offset,
                 [r["freed_secs"] if r["freed_secs"] is not None else result["watch_secs"]
                  for r in rounds], width=0.4, label=f"{variant} ({result[variant + '_rev']})")
    axis.set_xticks(np.arange(len(result["rounds"]) // 2))
    axis.set_xlabel("round (the two alternated)")
    axis.set_ylabel("s from the browser's close to the session's end")
    axis.set_title("a WebRTC visitor who closes the browser without hanging up")
    save_plot(figure, axis, out)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="vanished-"))
    wav = write_fake_mic_wav(folder / "mic.wav", [(args.open_secs + 5, None)])
    y4m = write_fake_camera_y4m(folder / "camera.y4m", seconds=4.0)
    roots = {"before": baseline_tree(args.against), "after": ROOT}
    rounds = []
    for index in tqdm(range(args.rounds), desc="rounds", file=sys.stderr):
        order = ["before", "after"] if index % 2 == 0 else ["after", "before"]
        for variant in order:  # alternated: neither always meets a warmer machine
            rounds.append({"variant": variant, **await one_round(
                roots[variant], args.open_secs, args.watch_secs, wav, y4m)})
    summary = {}
    for variant in roots:
        mine = [r for r in rounds if r["variant"] == variant]
        freed = [r["freed_secs"] for r in mine if r["freed_secs"] is not None]
        summary[variant] = {
            "freed_secs_max": max(freed) if len(freed) == len(mine) else None,
            "server_cpu_percent": round(float(np.median([r["server_cpu_percent"] for r in mine])), 1)}
    return {"bench": "webrtc_vanished", "before_rev": args.against, "after_rev": "this tree",
            "open_secs": args.open_secs, "watch_secs": args.watch_secs,
            "freed_secs_max_before": summary["before"]["freed_secs_max"],
            "freed_secs_max_after": summary["after"]["freed_secs_max"],
            **summary, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--against", default="HEAD", metavar="REV",
                        help="the tree to compare with (default: the last commit)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--open-secs", type=float, default=12.0)
    parser.add_argument("--watch-secs", type=float, default=45.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "webrtc_vanished.json")
    args = parser.parse_args()
    run_async_figure(run, args, plot)


if __name__ == "__main__":
    main()
