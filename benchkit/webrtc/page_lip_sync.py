"""Lip sync as a visitor meets it: the voice the page played against the mouth it showed.

Why here: bench/webrtc/webrtc_kiosk.py compares our websocket with pipecat's WebRTC
transport, and the two carry time differently (our frames have pts, WebRTC has
RTP clocks and the browser's own A/V sync), so the one fair measure is on what
the page presents. The page (pipelines/web/media-probe.js) records the played
audio's level every 10 ms and how open the mouth looks (the share of a box round
the lips darker or brighter than the idle mouth: the cavity and the teeth) at each
animation frame that showed a new image, both on
`performance.now()`'s clock. Per reply, the lag that best correlates the mouth
with the voice's envelope is the A/V offset (lag > 0: the mouth follows the
voice). It includes the generator's own timing, the same on both transports.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from benchkit.stats import pct

#: grid step (ms) both traces are put on
STEP_MS = 10.0
#: lags searched (ms)
MAX_LAG_MS = 400.0
#: a window is voiced above this RMS (media-probe.js VOICED_RMS)
VOICED_RMS = 0.01
#: quiet longer than this ends a reply
REPLY_GAP_MS = 700.0
#: replies shorter than this are not measured (too little motion to correlate)
MIN_REPLY_MS = 1200.0
#: a reply counts when its best correlation reaches this (else the mouth did not follow it)
MIN_CORRELATION = 0.3


@dataclass(frozen=True)
class ReplyLag:
    """One reply's best lag and how well the mouth followed the voice there."""

    start_ms: float
    secs: float
    lag_ms: float
    correlation: float


def replies(audio: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) in ms of the voiced runs of an (n, 2) [time, rms] trace."""
    voiced = audio[audio[:, 1] > VOICED_RMS, 0]
    if len(voiced) == 0:
        return []
    breaks = np.flatnonzero(np.diff(voiced) > REPLY_GAP_MS)
    starts = np.concatenate([[voiced[0]], voiced[breaks + 1]])
    ends = np.concatenate([voiced[breaks], [voiced[-1]]])
    return [(float(s), float(e)) for s, e in zip(starts, ends, strict=True)
            if e - s >= MIN_REPLY_MS]


def reply_lag(audio: np.ndarray, video: np.ndarray, start: float, end: float) -> ReplyLag | None:
    """The lag that best aligns the mouth with the voice over [start, end], or None."""
    grid = np.arange(start - MAX_LAG_MS, end + MAX_LAG_MS, STEP_MS)
    inside = (video[:, 0] >= grid[0] - 200) & (video[:, 0] <= grid[-1] + 200)
    if inside.sum() < 10:
        return None
    # the image shown holds until the next one: a step function, not a line
    shown = np.searchsorted(video[:, 0], grid, side="right") - 1
    mouth = np.where(shown >= 0, video[np.clip(shown, 0, None), 1], np.nan)
    level = np.interp(grid, audio[:, 0], audio[:, 1])
    kernel = np.ones(4) / 4  # 40 ms: one image's worth of sound
    level = np.convolve(level, kernel, mode="same")
    core = (grid >= start) & (grid <= end)
    best: tuple[float, float] | None = None
    for shift in range(-int(MAX_LAG_MS / STEP_MS), int(MAX_LAG_MS / STEP_MS) + 1):
        # lag > 0: the mouth at t + lag goes with the sound at t
        moved = np.roll(mouth, -shift)
        a, b = level[core], moved[core]
        ok = np.isfinite(b)
        if ok.sum() < 20 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
            continue
        r = float(np.corrcoef(a[ok], b[ok])[0, 1])
        if best is None or r > best[1]:
            best = (shift * STEP_MS, r)
    if best is None:
        return None
    return ReplyLag(start_ms=start, secs=(end - start) / 1000, lag_ms=best[0], correlation=best[1])


def page_lip_sync(trace: dict[str, Any]) -> dict[str, Any]:
    """Per-reply lags of a page's `kiosk.probeTrace()`, and their summary."""
    audio = np.asarray(trace.get("audio") or [], np.float64).reshape(-1, 2)
    # [time, opening, change]: the opening (pipelines/web/media-probe.js) is the signal
    video = np.asarray(trace.get("video") or [], np.float64).reshape(-1, 3)[:, :2]
    found = [reply_lag(audio, video, s, e) for s, e in replies(audio)] if len(video) else []
    lags = [lag for lag in found if lag is not None]
    followed = [lag for lag in lags if lag.correlation >= MIN_CORRELATION]
    values = [lag.lag_ms for lag in followed]
    return {
        "replies": len(lags),
        "replies_followed": len(followed),
        "lag_ms_p50": pct(values, 50),
        "abs_lag_ms_p95": pct([abs(v) for v in values], 95),
        "per_reply": [{"secs": round(lag.secs, 2), "lag_ms": lag.lag_ms,
                       "r": round(lag.correlation, 2)} for lag in lags],
        "video_samples": len(video),
        "audio_samples": len(audio),
    }


# mediapipe face mesh: mouth corners, upper lip top, lower lip bottom, chin
LEFT_CORNER, RIGHT_CORNER, UPPER_LIP, LOWER_LIP, CHIN = 61, 291, 0, 17, 152


def mouth_box(png: bytes) -> dict[str, float]:
    """The box round the lips (and where the jaw drops to), as fractions of the image."""
    from avatar.face_analysis import FaceAnalyzer

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    with FaceAnalyzer(mode="image") as analyzer:
        face = analyzer.analyze(rgb)
    if face is None:
        raise RuntimeError("no face in the page's image of the avatar")
    points = face.landmarks[:, :2]
    height, width = rgb.shape[:2]
    left, right = points[LEFT_CORNER, 0], points[RIGHT_CORNER, 0]
    margin = 0.15 * (right - left)
    top = points[UPPER_LIP, 1] - margin
    bottom = (points[LOWER_LIP, 1] + points[CHIN, 1]) / 2
    return {"x": float((left - margin) / width), "y": float(top / height),
            "w": float((right - left + 2 * margin) / width), "h": float((bottom - top) / height)}


async def face_png(page: Any) -> bytes:
    """The face as the kiosk page shows it now (a PNG of its canvas or <video>)."""
    url = await page.evaluate("window.kiosk.faceImage()")
    return base64.b64decode(url.split(",", 1)[1])
