"""A synthetic speaker's persistent traits: neutral face (reference motion) and style.

Why persistent: a real person keeps their resting face and mannerisms from one
conversation to the next; deriving them from the voice id (not the dialogue
seed) gives the model the same speaker with the same reference motion in every
dialogue, as in real data.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from avatar.corpus.gestures import BLINK, BROW_INNER, EYE_SQUINT, JAW, SMILE
from avatar.motion import column_index, neutral_frame


@dataclass(frozen=True)
class Style:
    """Mannerisms; every rule reads its amplitudes/probabilities from here."""

    expressiveness: float = 1.0  # head-motion gain (0.6 calm .. 1.4 animated)
    articulation: float = 1.0  # mouth gain
    nod_prob: float = 0.6  # backchannel nod at a partner's pause
    nod_deg: float = 7.0  # nod amplitude (pitch, chin down)
    smile_mirror: float = 0.7  # gain of smiling back
    smile_delay_s: float = 0.5  # how late smiles are answered (0.3-0.8 s in people)
    brow_prob: float = 0.4  # brow raise on an emphasis / partner's brow flash
    blink_mean_s: float = 3.8  # mean time between blinks
    gaze_aversion: float = 0.5  # probability of looking away at a turn start
    laugh_prob: float = 0.6  # joining a partner's laugh

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def default_style() -> Style:
    """The middle-of-the-road style, used by the rule-based baseline."""
    return Style()


def _rng_for(voice_id: str) -> np.random.Generator:
    digest = hashlib.sha256(voice_id.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def persona_for(voice_id: str) -> tuple[np.ndarray, Style]:
    """(neutral motion frame (58,), Style) for a voice id, deterministic."""
    rng = _rng_for(voice_id)
    neutral = neutral_frame()
    neutral[column_index("yaw")] = rng.normal(0, 3.0)
    neutral[column_index("pitch")] = rng.normal(0, 3.0)
    neutral[column_index("roll")] = rng.normal(0, 2.0)
    neutral[column_index("tx")] = rng.normal(0, 0.03)
    neutral[column_index("ty")] = rng.normal(0, 0.03)
    neutral[column_index("scale")] = rng.uniform(0.40, 0.55)
    neutral[JAW] = rng.uniform(0.0, 0.03)
    resting_smile = rng.uniform(0.0, 0.12)
    for i, col in enumerate(SMILE):
        neutral[col] = resting_smile * (1 + 0.2 * (i - 0.5) * rng.normal())
    for col in BLINK:
        neutral[col] = rng.uniform(0.02, 0.10)
    # resting values as mediapipe reads them on real still faces (e.g. the default
    # portrait: eyeSquint ~0.6, mouthPress ~0.2, eyeLook* 0.02-0.17, browDown ~0.03)
    squint = rng.uniform(0.05, 0.6)
    for col in EYE_SQUINT:
        neutral[col] = squint * rng.uniform(0.85, 1.0)
    neutral[BROW_INNER] = rng.uniform(0.0, 0.1)
    for name in ("browDownLeft", "browDownRight", "browOuterUpLeft", "browOuterUpRight"):
        neutral[column_index(name)] = rng.uniform(0.0, 0.06)
    press = rng.uniform(0.0, 0.22)
    for name in ("mouthPressLeft", "mouthPressRight"):
        neutral[column_index(name)] = press * rng.uniform(0.85, 1.0)
    for name in ("mouthClose", "mouthRollLower", "mouthShrugLower"):
        neutral[column_index(name)] = rng.uniform(0.0, 0.07)
    for side in ("Left", "Right"):
        for d in ("Down", "In", "Out", "Up"):
            neutral[column_index(f"eyeLook{d}{side}")] = rng.uniform(0.01, 0.15)
    style = Style(
        expressiveness=float(rng.uniform(0.6, 1.4)),
        articulation=float(rng.uniform(0.8, 1.2)),
        nod_prob=float(rng.uniform(0.35, 0.85)),
        nod_deg=float(rng.uniform(5.0, 10.0)),
        smile_mirror=float(rng.uniform(0.4, 1.0)),
        smile_delay_s=float(rng.uniform(0.3, 0.8)),
        brow_prob=float(rng.uniform(0.2, 0.6)),
        blink_mean_s=float(rng.uniform(3.0, 5.0)),
        gaze_aversion=float(rng.uniform(0.3, 0.8)),
        laugh_prob=float(rng.uniform(0.4, 0.8)),
    )
    return np.clip(neutral, -90, 90).astype(np.float32), style
