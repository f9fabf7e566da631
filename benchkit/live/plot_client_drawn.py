"""A PNG of a `bench/live/client_drawn.py --against` run: a client-drawn session's server
CPU before and after, round by round.

Left: cores a session at full rate, every round of the motion arm (the page draws) and of
its batched variant, before and after, with each side's median and the goal (0.05 of a
core). Right: the motion arm's rounds split into the blocks' planning (the generator's
step in it) and the motion frames' solve, so the part a change moved stands out from the
machine's noise (the solve's code is the same on both sides).

    python -m benchkit.live.plot_client_drawn bench/quoted/client_drawn_s20.json docs/client_drawn_s20.png

Prints one JSON line of what it drew. Kept in benchkit so that bench/ holds the benches.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

#: the issue's goal, cores a client-drawn session at full rate
GOAL_CORES = 0.05
SIDES = ("before", "after")


def rounds_of(report: dict[str, Any], side: str, arm: str, figure: str) -> list[float]:
    """Every round's `figure` of `arm` over the runs of one side."""
    return [one[figure] for run in report["runs"] if run["tree"] == side
            for one in run["report"]["rounds"][arm]]


def plot(report: dict[str, Any], out: Path) -> dict[str, Any]:
    """Draw the run to `out`; returns the medians drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "runs" not in report or "against" not in report:
        raise SystemExit("not a client_drawn.py --against run (no runs / against)")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    drawn: dict[str, Any] = {}
    arms = (("motion", "page draws"), ("motion_batched", "batched"))
    for a, (arm, _label) in enumerate(arms):
        for s, side in enumerate(SIDES):
            values = rounds_of(report, side, arm, "cores_per_session")
            x = a * 3 + s
            left.scatter([x] * len(values), values, s=14, alpha=0.6,
                         color="tab:grey" if side == "before" else "tab:blue")
            median = statistics.median(values)
            left.hlines(median, x - 0.3, x + 0.3, color="black")
            left.annotate(f"{median:.3f}", (x + 0.32, median), va="center", fontsize=8)
            drawn[f"{arm}_{side}"] = round(median, 4)
    left.axhline(GOAL_CORES, color="tab:red", linestyle="--", label=f"goal {GOAL_CORES}")
    left.set_xticks([0, 1, 3, 4], [f"{label}\n{side}" for _, label in arms for side in SIDES],
                    fontsize=8)
    left.set_ylabel("server cores a session, full rate (25 fps)")
    left.set_ylim(bottom=0)
    left.legend(loc="lower right", fontsize=8)
    left.set_title(f"every round, against {report['against']}", fontsize=9)
    for s, side in enumerate(SIDES):
        planning = statistics.median(rounds_of(report, side, "motion", "planning_cores_per_session"))
        solve = statistics.median(rounds_of(report, side, "motion", "solve_cores_per_session"))
        right.bar(s, planning, color="tab:blue", label="planning (generator)" if s == 0 else None)
        right.bar(s, solve, bottom=planning, color="tab:orange",
                  label="motion frame solve" if s == 0 else None)
        right.annotate(f"{planning:.3f} + {solve:.3f}", (s, planning + solve), ha="center",
                       va="bottom", fontsize=8)
        drawn[f"planning_{side}"], drawn[f"solve_{side}"] = round(planning, 4), round(solve, 4)
    right.axhline(GOAL_CORES, color="tab:red", linestyle="--")
    right.set_xticks([0, 1], list(SIDES))
    right.set_ylabel("cores a session (medians of the rounds)")
    right.set_ylim(0, 1.4 * max(drawn["planning_before"] + drawn["solve_before"],
                                drawn["planning_after"] + drawn["solve_after"]))
    right.legend(loc="upper right", fontsize=8)
    right.set_title("the page-drawn arm, split", fontsize=9)
    loads = [round(run[key], 2) for run in report["runs"] for key in ("load_before", "load_after")]
    fig.suptitle(f"client-drawn session, server CPU (load {min(loads)}-{max(loads)}, "
                 f"{report['repeats']} runs a side)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="the JSON client_drawn.py --against saved")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args()
    print(json.dumps(plot(json.loads(args.run.read_text()), args.out)))


if __name__ == "__main__":
    main()
