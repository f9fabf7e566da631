"""Relative motion transfer: a driver's face animates a portrait.

Absolute motion cannot be copied from one face to another: the driver's camera
framing (tx, ty, scale), its resting head pose and its resting expression (some
people rest with a slight smile or squint) are not the portrait's. So we take
the driver's motion *relative to its own rest* and add it to the portrait's
reference motion (avatar/motion.py, "Consumers that animate a different face"):

- rotation: R_out = R_portrait @ R_delta with R_delta = R_rest^T @ R_driver, the
  driver's rotation away from rest in its own head frame, applied in the
  portrait's head frame (a true composition, not a sum of Euler angles: a nod is
  about the head's own ear-to-ear axis, so a portrait that looks to the side
  still nods rather than tilting); a gain scales the delta's rotation vector;
- translation: the driver's centre offset measured in driver face heights,
  re-expressed in portrait face heights (moving by half a face means the same
  on both, whatever the framing);
- scale: multiplied by driver scale / rest scale (leaning in grows the face);
- blendshapes: portrait + gain * (driver - rest), clipped to [0, 1].

The driver's rest is robust: the median pose over frames with a face, and a
low percentile per blendshape (a talking driver's mouth is open half the time,
so the median jawOpen is not "closed"; the 20th percentile is). "first" uses
the first frame with a face instead, for clips that start at rest.

Frames where the driver has no face hold the last transferred motion (or the
portrait's reference before the first face), so the avatar freezes instead of
jumping to an invented pose.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from scipy.spatial.transform import Rotation
from tqdm import tqdm

from avatar.errors import NoFaceError
from avatar.face_analysis import analyze_video
from avatar.motion import (
    EXPRESSION_SLICE,
    MOTION_DIM,
    MotionTrack,
    angles_to_rotation,
    column_index,
    rotation_to_angles,
)
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.portrait_calibration import calibration_for
from avatar.video_io import VideoWriter, probe_video, read_audio

_YAW, _PITCH, _ROLL = column_index("yaw"), column_index("pitch"), column_index("roll")
_TX, _TY, _SCALE = column_index("tx"), column_index("ty"), column_index("scale")

RestMethod = Literal["median", "first"]


@dataclass(frozen=True)
class RetargetOptions:
    """How driver motion maps onto the portrait (defaults: faithful transfer)."""

    rest: RestMethod = "median"
    expression_rest_quantile: float = 0.2  # per-blendshape rest for rest="median"
    pose_gain: float = 1.0  # scales the head-rotation delta
    translation_gain: float = 1.0  # scales tx/ty deltas (0 pins the head in place)
    scale_gain: float = 1.0  # exponent on driver scale / rest scale
    expression_gain: float = 1.0  # scales blendshape deltas

    def __post_init__(self) -> None:
        if self.rest not in ("median", "first"):
            raise ValueError(f"rest must be 'median' or 'first', got {self.rest!r}")
        if not 0.0 <= self.expression_rest_quantile <= 1.0:
            raise ValueError("expression_rest_quantile must be in [0, 1]")


def driver_rest(track: MotionTrack, options: RetargetOptions = RetargetOptions()) -> np.ndarray:
    """The driver's rest motion frame (MOTION_DIM float32), see the module doc."""
    valid = track.data[track.found]
    if len(valid) == 0:
        raise NoFaceError("the driver has no frame with a face; nothing to transfer")
    if options.rest == "first":
        return valid[0].copy()
    rest = np.median(valid, axis=0)
    rest[EXPRESSION_SLICE] = np.quantile(
        valid[:, EXPRESSION_SLICE], options.expression_rest_quantile, axis=0
    )
    return rest.astype(np.float32)


def transfer_frame(
    driver: np.ndarray, rest: np.ndarray, reference: np.ndarray,
    options: RetargetOptions = RetargetOptions(),
) -> np.ndarray:
    """One portrait motion frame from one driver frame (all MOTION_DIM float32)."""
    out = np.array(reference, dtype=np.float32, copy=True)
    r_driver = angles_to_rotation(*driver[[_YAW, _PITCH, _ROLL]])
    r_rest = angles_to_rotation(*rest[[_YAW, _PITCH, _ROLL]])
    r_portrait = angles_to_rotation(*reference[[_YAW, _PITCH, _ROLL]])
    r_delta = r_rest.T @ r_driver  # head frame
    if options.pose_gain != 1.0:
        rotvec = Rotation.from_matrix(r_delta).as_rotvec() * options.pose_gain
        r_delta = Rotation.from_rotvec(rotvec).as_matrix()
    out[[_YAW, _PITCH, _ROLL]] = rotation_to_angles(r_portrait @ r_delta)
    # translation in face heights: driver delta / driver face size * portrait face size
    rest_scale = max(float(rest[_SCALE]), 1e-6)
    per_face = float(reference[_SCALE]) / rest_scale
    out[_TX] = reference[_TX] + options.translation_gain * (driver[_TX] - rest[_TX]) * per_face
    out[_TY] = reference[_TY] + options.translation_gain * (driver[_TY] - rest[_TY]) * per_face
    ratio = max(float(driver[_SCALE]), 1e-6) / rest_scale
    out[_SCALE] = reference[_SCALE] * ratio**options.scale_gain
    delta = driver[EXPRESSION_SLICE] - rest[EXPRESSION_SLICE]
    out[EXPRESSION_SLICE] = np.clip(
        reference[EXPRESSION_SLICE] + options.expression_gain * delta, 0.0, 1.0
    )
    return out


def retarget_track(
    driver: MotionTrack, reference: np.ndarray, options: RetargetOptions = RetargetOptions()
) -> MotionTrack:
    """The portrait's motion track for a whole driver track (same length and fps).

    The result's `found` mask is the driver's: False rows hold the previous motion.
    """
    reference = np.asarray(reference, dtype=np.float32)
    if reference.shape != (MOTION_DIM,):
        raise ValueError(f"reference motion must be ({MOTION_DIM},), got {reference.shape}")
    rest = driver_rest(driver, options)
    out = np.empty_like(driver.data)
    held = reference
    for index, (row, found) in enumerate(zip(driver.data, driver.found, strict=True)):
        if found:
            held = transfer_frame(row, rest, reference, options)
        out[index] = held
    return MotionTrack(data=out, fps=driver.fps, found=driver.found.copy())


class FrameRenderer(Protocol):
    """What retargeting needs from a renderer (avatar.render.PortraitRenderer)."""

    def render(self, motion: np.ndarray) -> np.ndarray:
        """(size, size, 3) uint8 RGB frame for one MOTION_DIM motion frame."""
        ...


@dataclass
class RetargetResult:
    """What `retarget_video` produced, for reports and tests."""

    out_path: Path
    frames: int
    fps: float
    driver_track: MotionTrack
    portrait_track: MotionTrack
    has_audio: bool
    timings_s: dict[str, float] = field(default_factory=dict)


def default_renderer_factory(portrait: Portrait, size: int) -> FrameRenderer:
    """avatar.render.PortraitRenderer with the portrait's own calibration table when
    one has been fitted (`avatar-forcing calibrate`), else the shipped one."""
    renderer: FrameRenderer = PortraitRenderer(portrait, size=size,
                                               calibration=calibration_for(portrait))
    return renderer


def retarget_video(
    portrait_source: str | Path | np.ndarray, driver_path: str | Path, out_path: str | Path,
    *, size: Literal[256, 512] = 512, options: RetargetOptions = RetargetOptions(),
    smoothing: float = 0.3, keep_audio: bool = True, progress: bool = False,
    renderer_factory: Callable[[Portrait, int], FrameRenderer] = default_renderer_factory,
) -> RetargetResult:
    """Animate a portrait with a driver video's face; write an mp4 with the driver's audio.

    Analysis runs first over the whole driver (the rest pose needs every frame),
    then frames are rendered and encoded one by one, so memory stays flat.
    """
    timings: dict[str, float] = {}
    start = time.perf_counter()
    portrait = Portrait.load(portrait_source, size=size)
    renderer = renderer_factory(portrait, size)
    timings["load_s"] = time.perf_counter() - start

    start = time.perf_counter()
    driver_track = analyze_video(driver_path, smoothing=smoothing, progress=progress)
    timings["analyze_s"] = time.perf_counter() - start
    portrait_track = retarget_track(driver_track, portrait.reference_motion, options)

    info = probe_video(driver_path)
    audio = read_audio(driver_path) if keep_audio and info.has_audio else None
    start = time.perf_counter()
    _render_to_file(renderer, portrait_track, Path(out_path), size, audio, progress)
    timings["render_s"] = time.perf_counter() - start
    return RetargetResult(
        out_path=Path(out_path), frames=len(portrait_track), fps=portrait_track.fps,
        driver_track=driver_track, portrait_track=portrait_track, has_audio=audio is not None,
        timings_s=timings,
    )


def _render_to_file(
    renderer: FrameRenderer, track: MotionTrack, out_path: Path, size: int,
    audio: tuple[np.ndarray, int] | None, progress: bool,
) -> None:
    samples, sample_rate = audio if audio is not None else (None, 16_000)
    rows: Iterator[np.ndarray] | np.ndarray = track.data
    if progress:
        rows = tqdm(track.data, total=len(track), unit="frame", desc="rendering")
    with VideoWriter(out_path, track.fps, size, samples, sample_rate) as writer:
        for row in rows:
            writer.write(renderer.render(row))
