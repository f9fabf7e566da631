"""Lip sync measured on what the client received: jawOpen re-measured on the frames
against the reply audio's envelope, the lag that best aligns them, and a plot.

Why here: the A/V offset is a product figure (bench/live/live.py, bench/live/adapt.py) and
must be measured one way; see bench/live/live.py's docstring for the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.live.live_client import FRAME_US, MAX_LAG_FRAMES
from benchkit.live.live_turns import TurnWindow


def _rms_per_frame(window: TurnWindow, base_pts: int, slots: int) -> np.ndarray:
    """RMS of the received audio in each 40 ms slot from `base_pts` (NaN: none received)."""
    rate = window.rate
    spf = rate * FRAME_US // 1_000_000
    audio = np.full(slots * spf, np.nan, np.float32)
    for pts, pcm in window.audio:
        offset = round((pts - base_pts) * rate / 1e6)
        samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        lo, hi = max(0, offset), min(len(audio), offset + len(samples))
        if hi > lo:
            audio[lo:hi] = samples[lo - offset:hi - offset]
    frames = audio.reshape(slots, spf)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.mean(frames ** 2, axis=1))


@dataclass
class WireFrames:
    """What the landmarker read on a window's received frames, per 40 ms slot."""

    base: int  # pts of the first frame: slot j is base + j * 40 ms
    jaw: np.ndarray  # jawOpen, NaN where no frame or no face
    repeated: np.ndarray  # bool: the same JPEG as the slot before (the server was late)
    widths: dict[int, int]  # frames by image width (the quality level they were sent at)
    missing_face: int


def wire_frames(window: TurnWindow, mode: str = "video") -> WireFrames:
    """jawOpen re-measured by the landmarker on the window's JPEG frames, and which
    frames repeat the one before. `mode`: FaceAnalyzer's ("video" tracks between
    frames, as the live figure is measured)."""
    import cv2

    from avatar.face_analysis import FaceAnalyzer
    from avatar.motion import column_index

    frames = sorted({pts: jpeg for pts, jpeg in window.video}.items())
    base = frames[0][0] if frames else 0
    slots = (frames[-1][0] - base) // FRAME_US + 1 if frames else 0
    jaw = np.full(slots, np.nan, np.float32)
    repeated = np.zeros(slots, bool)
    widths: dict[int, int] = {}
    jaw_col = column_index("jawOpen")
    missing_face = 0
    previous = b""
    with FaceAnalyzer(mode="video" if mode == "video" else "image") as analyzer:
        for pts, jpeg in frames:
            j = (pts - base) // FRAME_US
            repeated[j], previous = jpeg == previous, jpeg
            bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                missing_face += 1
                continue
            widths[bgr.shape[1]] = widths.get(bgr.shape[1], 0) + 1
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            found = (analyzer.analyze(rgb, timestamp_ms=(pts - base) // 1000 + 1)
                     if mode == "video" else analyzer.analyze(rgb))
            if found is None:
                missing_face += 1
            else:
                jaw[j] = found.motion[jaw_col]
    return WireFrames(base, jaw, repeated, widths, missing_face)


def measured_jaw(window: TurnWindow, mode: str = "video") -> tuple[int, np.ndarray, int]:
    """(base pts, jawOpen per slot, frames without a face): `wire_frames`'s jaw."""
    wire = wire_frames(window, mode)
    return wire.base, wire.jaw, wire.missing_face


def _lag_curve(env: np.ndarray, jaw: np.ndarray, core: np.ndarray
               ) -> dict[int, tuple[float, int]]:
    """Correlation of env[core] with jaw[core + lag] and the slots used, per lag in
    -MAX_LAG_FRAMES..+MAX_LAG_FRAMES (lags with under 20 usable slots left out)."""
    curve: dict[int, tuple[float, int]] = {}
    for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        x, y = env[core], jaw[core + lag]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() >= 20 and np.std(x[ok]) > 0 and np.std(y[ok]) > 0:
            curve[lag] = (float(np.corrcoef(x[ok], y[ok])[0, 1]), int(ok.sum()))
    return curve


def lip_sync(window: TurnWindow, jaw_track: tuple[int, np.ndarray] | None = None,
             ) -> dict[str, Any]:
    """jawOpen re-measured on the received frames vs the received audio's envelope.

    Both on the stream clock: slot j = frame pts (base + j * 40 ms); the
    correlation is taken over the reply's slots (first to last non-silent
    chunk) for lags of -400..+400 ms; lag > 0: the jaw follows the sound.
    `jaw_track` (base pts, jawOpen per slot from it): a jaw known otherwise (the
    generated motion's, bench/face/lip_sync_stages.py), correlated the same way.
    """
    wire = None
    if jaw_track is None:
        if len({pts for pts, _ in window.video}) < 3 * MAX_LAG_FRAMES:
            return {"error": f"only {len(window.video)} frames around the reply"}
        wire = wire_frames(window)
        base, jaw = wire.base, wire.jaw
    else:
        base, jaw = jaw_track
        jaw = np.asarray(jaw, np.float32)
    slots = len(jaw)
    env = _rms_per_frame(window, base, slots)
    core = np.arange(max(MAX_LAG_FRAMES, (window.first_loud_pts - base) // FRAME_US),
                     min(slots - MAX_LAG_FRAMES, (window.last_loud_pts - base) // FRAME_US + 1))
    curve = _lag_curve(env, jaw, core)
    if not curve:
        return {"error": "too few frames with a face and audio"}
    best = max(curve, key=lambda k: curve[k][0])
    out: dict[str, Any] = {}
    if wire is not None:
        # the diagnosis of the wire: images the server repeated (it was late) and the
        # sizes sent; the correlation over fresh images only says what repeats cost
        fresh = _lag_curve(env, np.where(wire.repeated, np.nan, jaw), core)
        inside = wire.repeated[np.clip(core + best, 0, slots - 1)]
        out = {"repeated_share": round(float(inside.mean()), 3), "widths": wire.widths,
               "r_fresh_images": round(max(v[0] for v in fresh.values()), 3) if fresh else None,
               "curve_fresh": fresh}
    return out | {"lag_ms": best * FRAME_US // 1000, "r": round(curve[best][0], 3),
            "r_at_0": round(curve.get(0, (float("nan"), 0))[0], 3),
            "slots": int(len(core)), "frames_without_face": 0 if wire is None
            else wire.missing_face,
            "curve": {k: v for k, v in curve.items()},
            "series": {"t_ms": ((np.arange(slots) * FRAME_US - (window.first_loud_pts - base))
                                / 1000).tolist(),
                       "env": env.tolist(), "jaw": jaw.tolist()}}


def pooled_lip_sync(results: list[dict[str, Any]], key: str = "curve") -> dict[str, Any]:
    """One lag for all replies: the correlation curves averaged, weighted by length.
    `key`: "curve_fresh" pools the curves over fresh images only (`lip_sync`)."""
    curves = [r[key] for r in results if key in r]
    if not curves:
        return {"av_offset_ms": None, "lip_sync_r": None}
    pooled = {}
    for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        pairs = [c[lag] for c in curves if lag in c]
        if pairs:
            pooled[lag] = sum(r * n for r, n in pairs) / sum(n for _, n in pairs)
    best = max(pooled, key=lambda k: pooled[k])
    fine = float(best)
    if best - 1 in pooled and best + 1 in pooled:  # parabola through the peak: sub-frame lag
        left, mid, right = pooled[best - 1], pooled[best], pooled[best + 1]
        bend = left - 2 * mid + right
        fine = best + (0.5 * (left - right) / bend if bend < 0 else 0.0)
    return {"av_offset_ms": best * FRAME_US // 1000, "lip_sync_r": round(pooled[best], 3),
            "av_offset_ms_interpolated": round(fine * FRAME_US / 1000, 1),
            "lip_sync_r_at_0": round(pooled.get(0, float("nan")), 3),
            "lip_sync_curve": {str(k * 40): round(v, 3) for k, v in sorted(pooled.items())}}


def plot_av_sync(results: list[dict[str, Any]], pooled: dict[str, Any], out: Path,
                 note: str) -> None:
    """One reply's envelope and jawOpen over time, and the lag curves, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = [r for r in results if "series" in r]
    if not usable:
        return
    shown = max(usable, key=lambda r: r["slots"])
    series = shown["series"]
    t = np.asarray(series["t_ms"]) / 1000
    env = np.asarray(series["env"], np.float64)
    jaw = np.asarray(series["jaw"], np.float64)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5),
                                      gridspec_kw={"height_ratios": [3, 2]})
    top.plot(t, env / np.nanmax(env), color="tab:blue", lw=1.2,
             label="received reply audio, RMS per 40 ms (normalised)")
    top.set_ylabel("audio envelope")
    top.set_xlabel("seconds from the first non-silent reply chunk (stream clock)")
    right = top.twinx()
    right.plot(t, jaw, color="tab:red", lw=1.2, label="jawOpen re-measured on received frames")
    right.set_ylabel("jawOpen")
    right.set_ylim(bottom=0)
    lines = top.get_lines() + right.get_lines()
    top.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper right")
    top.set_title(f"one reply: best lag {shown['lag_ms']} ms, r {shown['r']} "
                  f"(r at 0 ms {shown['r_at_0']})", fontsize=10)
    for r in usable:
        lags = sorted(r["curve"])
        bottom.plot([k * 40 for k in lags], [r["curve"][k][0] for k in lags], color="0.7", lw=0.8)
    curve = pooled.get("lip_sync_curve") or {}
    bottom.plot([int(k) for k in curve], list(curve.values()), color="black", lw=2,
                label="pooled over replies")
    bottom.axvline(0, color="tab:green", ls="--", lw=1)
    bottom.set_xlabel("lag of jawOpen behind the audio (ms; > 0: mouth after sound)")
    bottom.set_ylabel("correlation r")
    bottom.set_title(f"pooled: av_offset_ms {pooled.get('av_offset_ms')}, "
                     f"lip_sync_r {pooled.get('lip_sync_r')} ({len(usable)} replies; grey: each)",
                     fontsize=10)
    bottom.legend(fontsize=8)
    fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
