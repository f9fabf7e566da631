"""The grid of bench/face/camera_size.py (widths, qualities, distances, the motion columns
compared) and what it makes of the rows: the summary, the recommended width and
the plot (bench/results/camera_size.png).

Why here: the script keeps the measuring (encode, analyse as the server does);
the grid and the figure's arithmetic live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from avatar.live.camera import ANALYSIS_WIDTH
from avatar.motion import column_index
from avatar.portrait import default_portrait_path
from benchkit.paths import ROOT

WIDTHS = (160, 240, 320, 400, 480, 640)
QUALITIES = (0.6, 0.8)
REFERENCE = (640, 0.95)
FACE_FRACTIONS = (0.45, 0.33, 0.2)
PHOTOS = {
    "grace_hopper": default_portrait_path(),
    "astronaut": ROOT / "examples" / "voice_assistant" / "portraits" / "astronaut.jpg",
}
POSE = {"yaw": column_index("yaw"), "pitch": column_index("pitch"), "roll": column_index("roll")}
SHAPES = {
    "jawOpen": (column_index("jawOpen"),),
    "mouthSmile": (column_index("mouthSmileLeft"), column_index("mouthSmileRight")),
    "eyeBlink": (column_index("eyeBlinkLeft"), column_index("eyeBlinkRight")),
}
#: "Close to 640's": at most this much worse than 640 px at the same quality.
CLOSE_POSE_DEG = 0.5
CLOSE_SHAPE = 0.02


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (kind, width, quality): means over scenes, the worst found rate, and near/far."""
    keys = sorted({(r["kind"], r["width"], r["quality"]) for r in rows},
                  key=lambda k: (k[0] != "jpeg", k[2], k[1]))
    out = []
    for kind, width, quality in keys:
        group = [r for r in rows if (r["kind"], r["width"], r["quality"]) == (kind, width, quality)]
        entry: dict[str, Any] = {"kind": kind, "width": width, "quality": quality,
                                 "found_min": min(r["found_rate"] for r in group)}
        for subset, members in (("all", group),
                                ("near", [r for r in group if r["face_fraction"] >= 0.3]),
                                ("far", [r for r in group if r["face_fraction"] < 0.3])):
            entry[f"found_{subset}"] = round(float(np.mean([r["found_rate"] for r in members])), 3)
            for metric in ("pose_err", "shapes_err", *[f"{n}_err" for n in [*POSE, *SHAPES]]):
                values = [r[metric] for r in members if r[metric] is not None]
                entry[f"{metric}_{subset}" if subset != "all" else metric] = (
                    round(float(np.mean(values)), 4) if values else None)
        entry["ms_p50"] = round(float(np.median([r["ms_p50"] for r in group])), 2)
        entry["bytes_mean"] = int(round(float(np.mean([r["bytes_mean"] for r in group]))))
        out.append(entry)
    return out


def recommend(summary: list[dict[str, Any]], subset: str = "") -> dict[str, Any]:
    """Smallest width, per quality, with every face found and errors close to 640's."""
    suffix = f"_{subset}" if subset else ""
    found_key = f"found_{subset}" if subset else "found_min"
    picks: dict[str, Any] = {}
    for quality in QUALITIES:
        rows = {e["width"]: e for e in summary if e["kind"] == "jpeg" and e["quality"] == quality}
        top = rows[max(WIDTHS)]
        for width in WIDTHS:
            e = rows[width]
            if e[found_key] < 1.0 or e[f"pose_err{suffix}"] is None:
                continue
            if (e[f"pose_err{suffix}"] <= top[f"pose_err{suffix}"] + CLOSE_POSE_DEG
                    and e[f"shapes_err{suffix}"] <= top[f"shapes_err{suffix}"] + CLOSE_SHAPE):
                picks[f"q{quality}"] = width
                break
        else:
            picks[f"q{quality}"] = None
    return picks


def plot(summary: list[dict[str, Any]], path: Path) -> None:
    """Found rate, pose error, blendshape error and bytes against width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    panels = (("found", "face found rate", None), ("pose_err", "pose error vs 640 q0.95 (deg)",
              None), ("shapes_err", "blendshape error vs 640 q0.95", None),
              ("bytes_mean", "bytes per frame", None))
    for ax, (metric, title, _) in zip(axes, panels, strict=True):
        for quality, style in zip(QUALITIES, ("--", "-"), strict=True):
            rows = [e for e in summary if e["kind"] == "jpeg" and e["quality"] == quality]
            widths = [e["width"] for e in rows]
            if metric == "bytes_mean":
                ax.plot(widths, [e[metric] for e in rows], style, marker="o", label=f"q{quality}")
                continue
            for subset, colour in (("near", "tab:blue"), ("far", "tab:red")):
                key = f"found_{subset}" if metric == "found" else f"{metric}_{subset}"
                values = [np.nan if e[key] is None else e[key] for e in rows]
                ax.plot(widths, values, style, color=colour, marker="o",
                        label=f"{subset} face, q{quality}")
        uncapped = next((e for e in summary if e["kind"] == "uncapped"), None)
        if uncapped is not None and metric in ("pose_err", "shapes_err"):
            for subset, colour in (("near", "tab:blue"), ("far", "tab:red")):
                ax.axhline(uncapped[f"{metric}_{subset}"], color=colour, lw=0.8, ls="-.",
                           label=f"{subset}: 640 analysed unshrunk")
        ax.axvline(ANALYSIS_WIDTH, color="grey", lw=0.8, ls=":")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("JPEG width (px, 4:3)")
        ax.set_xticks(WIDTHS)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylim(0.8, 1.01)
    fig.suptitle("camera JPEG size vs the server's face analysis (dotted: the server shrinks "
                 f"frames to {ANALYSIS_WIDTH} px); near = face 0.33-0.45, far = 0.2 of the height",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
