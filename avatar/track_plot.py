"""A one-page picture of a motion track: is the analysis plausible at a glance?

Three stacked panels over time: head rotation (degrees), framing (tx, ty and
scale relative to its median) and the blendshapes that matter most for a
talking head (jaw, smile, blinks, brows, lip rounding). Frames without a face
are shaded grey and their values hidden, so gaps are visible rather than drawn
as flat lines.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avatar.motion import MotionTrack

KEY_BLENDSHAPES: tuple[str, ...] = (
    "jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight",
    "browInnerUp", "mouthPucker", "mouthFunnel",
)


def _shade_missing(axis: object, times: np.ndarray, found: np.ndarray, step: float) -> None:
    padded = np.concatenate([[False], ~found, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        axis.axvspan(times[start] - step / 2, times[stop - 1] + step / 2,  # type: ignore[attr-defined]
                     color="0.85", zorder=0, lw=0)


def plot_track(track: MotionTrack, path: str | Path, title: str = "") -> Path:
    """Write the track's PNG to `path` (parent folders created) and return the path."""
    # pyplot only when drawing: choosing the Agg backend is process-wide, must come
    # before pyplot loads, and pyplot costs about a second to import
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = np.arange(len(track)) / track.fps
    step = 1.0 / track.fps
    found = track.found

    def series(name: str) -> np.ndarray:
        return np.where(found, track.column(name), np.nan)  # gaps are not drawn

    figure, axes = plt.subplots(3, 1, figsize=(11, 8), sharex=True)
    for name in ("yaw", "pitch", "roll"):
        axes[0].plot(times, series(name), label=name, lw=1.4)
    axes[0].set_ylabel("rotation (deg)")
    for name in ("tx", "ty"):
        axes[1].plot(times, series(name), label=name, lw=1.4)
    scale = series("scale")
    if found.any():
        axes[1].plot(times, scale / np.nanmedian(scale) - 1.0, label="scale / median - 1", lw=1.4)
    axes[1].set_ylabel("framing (image fractions)")
    for name in KEY_BLENDSHAPES:
        axes[2].plot(times, series(name), label=name, lw=1.2)
    axes[2].set_ylabel("blendshape")
    axes[2].set_ylim(-0.02, 1.02)
    axes[2].set_xlabel("time (s)")
    for axis in axes:
        _shade_missing(axis, times, found, step)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right", fontsize=8, ncol=4)
    summary = (f"{len(track)} frames at {track.fps:g} fps, face found in "
               f"{found.mean() * 100 if len(found) else 0:.0f}% (grey: no face)")
    figure.suptitle(f"{title}\n{summary}" if title else summary)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def sample_indices(count: int, picks: int) -> np.ndarray:
    """`picks` frame indices spread evenly over `count` frames (ends included)."""
    if count <= 0:
        return np.zeros(0, dtype=int)
    return np.unique(np.linspace(0, count - 1, min(picks, count)).round().astype(int))


def plot_frame_rows(
    rows: dict[str, list[np.ndarray]], times_s: list[float], path: str | Path, title: str = ""
) -> Path:
    """A contact sheet: one labelled row of frames per entry of `rows`, same columns.

    Used to eyeball retargeting (driver row over avatar row) without playing video.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = max((len(frames) for frames in rows.values()), default=0)
    if columns == 0:
        raise ValueError("no frames to plot")
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.4 * len(rows)),
                                squeeze=False)
    for row_index, (label, frames) in enumerate(rows.items()):
        for column in range(columns):
            axis = axes[row_index][column]
            axis.set_xticks([])
            axis.set_yticks([])
            if column < len(frames):
                axis.imshow(frames[column])
            if row_index == 0 and column < len(times_s):
                axis.set_title(f"{times_s[column]:.2f} s", fontsize=9)
            if column == 0:
                axis.set_ylabel(label)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
