"""The soak over time in one figure: sessions per client, frame gaps, RSS per node,
with every fault shaded across the three panels.

Why one shared time axis: the questions a soak answers are "what did this fault do,
and to whom", so a lost session, a long gap or a memory step must line up with the
fault above it. Reads only the report's JSON, so `--plot-only` redraws a saved run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_FAULT_COLOURS = {"worker_kill": "tab:red", "llm_kill": "tab:purple", "net_cut": "tab:orange"}
_FAULT_NAMES = {"worker_kill": "worker killed", "llm_kill": "LLM killed", "net_cut": "network cut"}


def plot(report: dict[str, Any], path: Path) -> Figure:
    """Sessions (bars by outcome, failed turns as crosses), frame gaps over 250 ms
    (log scale, the 1 s goal), RSS per node life; faults shaded. Saved to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(12, 9), sharex=True, gridspec_kw={"height_ratios": [1.2, 1, 1]})
    minutes = 1 / 60.0
    for axis in (top, middle, bottom):
        for fault in report["faults"]:
            end = max(fault["end"], fault["start"] + 3.0)
            axis.axvspan(fault["start"] * minutes, end * minutes, alpha=0.25,
                         color=_FAULT_COLOURS.get(fault["kind"], "grey"), lw=0)
    for fault in report["faults"]:
        top.annotate(_FAULT_NAMES.get(fault["kind"], fault["kind"]),
                     (fault["start"] * minutes, 1.0), xycoords=("data", "axes fraction"),
                     rotation=90, va="top", ha="right", fontsize=7,
                     bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1})

    colours = {"completed": "tab:green", "lost": "tab:red", "running": "tab:grey"}
    slots = sorted({s["slot"] for s in report["sessions"]})
    for s in report["sessions"]:
        if s["first_frame"] is None:
            continue
        end = s["ended"] if s["ended"] is not None else report["soak_secs"]
        top.barh(s["slot"], (end - s["first_frame"]) * minutes, left=s["first_frame"] * minutes,
                 height=0.5, color=colours[s["outcome"]], edgecolor="white", lw=0.5)
        for t in s["failed_turns"]:
            top.plot(t * minutes, s["slot"] + 0.35, "kx", ms=6)
    top.set_yticks(slots, [f"client {i}" for i in slots])
    summary = report["summary"]
    top.set_title(f"sessions: {summary['sessions_started']} started, "
                  f"{summary['sessions_completed']} completed, {summary['sessions_lost']} lost "
                  f"({summary['sessions_lost_unfaulted']} not on a faulted node); "
                  "green done, red lost, x failed turn", fontsize=9)

    touched = {(s["slot"], s["opened"]) for s in report["sessions"] if s.get("touched")}
    for label, keep, style in (("untouched sessions", False, "o"), ("on a faulted node", True, "^")):
        points = [(t, ms) for s in report["sessions"] if ((s["slot"], s["opened"]) in touched) == keep
                  for t, ms in s["big_gaps"]]
        if points:
            middle.plot([t * minutes for t, _ in points], [ms for _, ms in points], style,
                        ms=4, alpha=0.7, label=label)
    middle.axhline(1000, color="black", ls=":", lw=1, label="1 s goal (untouched)")
    middle.set_yscale("log")
    middle.set_ylabel("frame gap (ms), > 250 only")
    middle.set_title(f"largest gap on untouched sessions "
                     f"{summary['frame_gap_ms_max_untouched']} ms", fontsize=9)
    middle.legend(fontsize=7, loc="upper left")

    # PSS where the soak has it (shared pages counted once), else RSS
    kind = "pss" if report.get("pss_samples") else "rss"
    lives: dict[str, list[tuple[float, float]]] = {}
    for t, node, mb in report[f"{kind}_samples"]:
        lives.setdefault(node, []).append((t, mb))
    for node, points in lives.items():
        bottom.plot([t * minutes for t, _ in points], [mb for _, mb in points],
                    lw=2 if node == "head" else 1.2, label=node)
    bottom.set_ylabel(f"{kind.upper()} per node (MB)")
    bottom.set_xlabel("minutes into the soak")
    bottom.set_title(f"{kind.upper()} growth after warm-up, max "
                     f"{report[f'{kind}_growth_mb_per_hour_max']} MB/h", fontsize=9)
    bottom.legend(fontsize=7, ncol=4, loc="lower right")
    figure.suptitle(f"fleet soak, {report['minutes']:g} min, faults every "
                    f"{report['fault_every_min']:g} min; load {report['load_average_start']:.1f}"
                    f" -> {report['load_average_end']:.1f}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return figure
