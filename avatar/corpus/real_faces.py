"""Real faces on the user side of the corpus: analysed webcam/video tracks, augmented.

Why: trained only on rule-made partners, the generator ignored a real
person's face. Synthetic partners smile in clean, noise-free pulses from a tidy
resting face, mostly while telling a joke; a real person smiles in small, noisy,
irregular ways, from a resting face of their own, and often in silence. Here a
dialogue's partner (role b) wears a real face: its head rotation and its
non-articulation expression (smiles, cheeks, eyes, brows, gaze, blinks, nose)
come from a real analysed track, added to what b's rules do. The avatar's rules
(role a) react to that face frame by frame as they would to anyone, so the
corpus holds real smiles answered after a human delay, including silent ones.

The articulation columns (jaw and lips) stay b's own rule-made mouth, so the
partner's mouth still agrees with the partner's audio.

Augmentation, per segment: mirror (left/right columns swapped, yaw and roll
negated), time stretch 0.8-1.25x, expression gain 0.7-1.4, head gain 0.6-1.2;
per dialogue, the real person's resting face is blended in by a random share,
so absolute values vary the way real people differ at rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.audio_features import FPS
from avatar.media_utils import resample_track
from avatar.motion import BLENDSHAPE_COLUMNS, MOTION_COLUMNS, MOTION_DIM, MotionTrack

# jaw and lips: these follow the partner's own speech, never another recording
ARTICULATION = frozenset({
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthStretchLeft", "mouthStretchRight", "_neutral",
})
_OVERLAID = np.array([name in ("yaw", "pitch", "roll") or (
    name in BLENDSHAPE_COLUMNS and name not in ARTICULATION) for name in MOTION_COLUMNS])
_HEAD = np.array([name in ("yaw", "pitch", "roll") for name in MOTION_COLUMNS])
_BLEND = slice(MOTION_DIM - len(BLENDSHAPE_COLUMNS), MOTION_DIM)
MIN_SEGMENT_S = 6.0  # shorter pieces would cut most smiles in half
CROSSFADE_FRAMES = 10


def _mirror_index() -> np.ndarray:
    """Column permutation of a left/right mirrored face."""
    index = np.arange(MOTION_DIM)
    for i, name in enumerate(MOTION_COLUMNS):
        for a, b in (("Left", "Right"), ("Right", "Left")):
            if name.endswith(a) and name[: -len(a)] + b in MOTION_COLUMNS:
                index[i] = MOTION_COLUMNS.index(name[: -len(a)] + b)
    return index


_MIRROR = _mirror_index()


def mirror(motion: np.ndarray) -> np.ndarray:
    """The same face seen in a mirror: left/right columns swapped, yaw/roll negated."""
    out = motion[:, _MIRROR].copy()
    out[:, MOTION_COLUMNS.index("yaw")] *= -1
    out[:, MOTION_COLUMNS.index("roll")] *= -1
    return out


@dataclass(frozen=True)
class RealFace:
    """One analysed real track at 25 fps (found frames only) and its resting face."""

    name: str
    motion: np.ndarray  # (T, 58)
    rest: np.ndarray  # (58,) per-column median


class RealFacePool:
    """Tracks to draw partner faces from; `overlay` builds one dialogue's face."""

    def __init__(self, faces: list[RealFace]) -> None:
        usable = [f for f in faces if len(f.motion) >= MIN_SEGMENT_S * FPS]
        if not usable:
            raise ValueError(f"no real face track of at least {MIN_SEGMENT_S:.0f} s")
        self.faces = usable

    @classmethod
    def from_dir(cls, directory: str | Path) -> RealFacePool:
        """Every MotionTrack .npz in `directory` (from `avatar-forcing analyze`)."""
        paths = sorted(Path(directory).glob("*.npz"))
        if not paths:
            raise FileNotFoundError(f"no analysed face tracks (*.npz) in {directory}")
        faces = []
        for path in paths:
            track = MotionTrack.load(path)
            if track.fps != FPS:
                track = resample_track(track, int(len(track) * FPS / track.fps), FPS)
            motion = track.data[track.found].astype(np.float32)
            if len(motion):
                faces.append(RealFace(path.stem, motion, np.median(motion, axis=0)))
        return cls(faces)

    def _segment(self, rng: np.random.Generator, frames: int) -> tuple[np.ndarray, str]:
        """One augmented piece (frames, 58) of deviations from its person's rest."""
        face = self.faces[int(rng.integers(len(self.faces)))]
        stretch = float(rng.uniform(0.8, 1.25))
        need = int(np.ceil(frames * stretch)) + 2
        src = face.motion - face.rest
        start = int(rng.integers(0, max(1, len(src) - need)))
        piece = src[start:start + need]
        pos = np.minimum(np.arange(frames) * stretch, len(piece) - 1.001)
        lo = pos.astype(int)
        w = (pos - lo)[:, None]
        out = (1 - w) * piece[lo] + w * piece[np.minimum(lo + 1, len(piece) - 1)]
        if rng.random() < 0.5:
            out = mirror(out)
        gain = np.where(_HEAD, rng.uniform(0.6, 1.2), rng.uniform(0.7, 1.4))
        return (out * gain).astype(np.float32), face.name

    def overlay(self, rng: np.random.Generator, frames: int) -> tuple[np.ndarray, list[str]]:
        """Additive (frames, 58) offsets for one partner, and the tracks used.

        Deviations from rest of random augmented segments, joined with short
        crossfades, plus a random share of one real person's resting face (the
        absolute offsets real people bring); zero outside the overlaid columns."""
        out = np.zeros((frames, MOTION_DIM), np.float32)
        used: list[str] = []
        t = 0
        while t < frames:
            length = min(frames - t, int(rng.uniform(MIN_SEGMENT_S, 30.0) * FPS))
            seg, name = self._segment(rng, length + CROSSFADE_FRAMES)
            if t:
                fade = np.linspace(0.0, 1.0, CROSSFADE_FRAMES)[:, None]
                head = min(CROSSFADE_FRAMES, frames - t)
                out[t:t + head] = (1 - fade[:head]) * out[t:t + head] + fade[:head] * seg[:head]
                out[t + head:t + length] = seg[head:length]
            else:
                out[:length] = seg[:length]
            used.append(name)
            t += length
        rest_face = self.faces[int(rng.integers(len(self.faces)))]
        share = float(rng.uniform(0.0, 1.0))
        # the person's rest relative to a typical face; only blendshapes (pose rest is camera)
        rest_offset = np.zeros(MOTION_DIM, np.float32)
        rest_offset[_BLEND] = rest_face.rest[_BLEND] - np.median(
            np.stack([f.rest for f in self.faces]), axis=0)[_BLEND]
        out += share * rest_offset
        return out * _OVERLAID, used


def wear(motion: np.ndarray, overlay: np.ndarray) -> np.ndarray:
    """A partner's frame with a real face's overlay, blendshapes kept in [0, 1]."""
    out = motion + overlay
    out[..., _BLEND] = np.clip(out[..., _BLEND], 0.0, 1.0)
    return out.astype(np.float32)
