"""Mutual gaze: the avatar's eyes (and a little of its head) turn toward the visitor.

The generator does not move the eyes (its gaze output stays within ~0.03 of
the portrait's own, measured in tests/avatar/test_gaze.py), and a listener who
never looks at the person speaking reads as absent. The camera already tells
where the visitor's head is (motion columns tx, ty: the head centre from the
camera image's centre, as fractions of its size), so the session adds a gaze
toward it, like the listening cues add attention.

Geometry: the camera faces the visitor, so a visitor standing to the screen's
left (their left) appears on the camera image's right (tx > 0), and the
avatar, facing them, must look toward its own right: the viewer's left, i.e.
the iris moves toward image left (eyeLookOutRight / eyeLookInLeft) and the head
turns a little the same way (yaw < 0; yaw > 0 is a turn to the viewer's right).
"""

from __future__ import annotations

import math

import numpy as np

from avatar.motion import MOTION_DIM, column_index

FPS = 25.0
#: eyeLook change per unit of visitor offset (tx), and its cap: a visitor at a
#: quarter of the camera's width off-centre (~15 deg at a 60 deg lens) moves the
#: eyes by ~0.4, about what a person does before turning the head.
EYES_PER_TX = 1.6
EYES_MAX = 0.6
EYES_PER_TY = 0.8
#: head yaw (deg) per unit tx: the head follows a little.
YAW_PER_TX = -12.0
FOLLOW_SECS = 0.25  # time constant: eyes move quickly, but camera jitter is smoothed
RETURN_SECS = 1.0  # without a face the gaze drifts back to the portrait's own

_TX, _TY = column_index("tx"), column_index("ty")
_YAW = column_index("yaw")
_OUT_R, _IN_L = column_index("eyeLookOutRight"), column_index("eyeLookInLeft")
_IN_R, _OUT_L = column_index("eyeLookInRight"), column_index("eyeLookOutLeft")
_UP = (column_index("eyeLookUpRight"), column_index("eyeLookUpLeft"))
_DOWN = (column_index("eyeLookDownRight"), column_index("eyeLookDownLeft"))


class GazeFollower:
    """Per-frame motion offsets (frames, MOTION_DIM) that look at the visitor's head."""

    def __init__(self) -> None:
        self._target = np.zeros(2, np.float32)  # visitor (tx, ty); zero: straight ahead
        self._present = False
        self._state = np.zeros(2, np.float32)

    def set_visitor(self, motion: np.ndarray | None) -> None:
        """The latest camera measurement of the visitor, or None when no face is seen."""
        if motion is None:
            self._present = False
            return
        self._target = np.array([motion[_TX], motion[_TY]], np.float32)
        self._present = True

    def offsets(self, frames: int) -> np.ndarray:
        """The next `frames` frames of gaze offsets (added to the generated motion)."""
        out = np.zeros((frames, MOTION_DIM), np.float32)
        target = self._target if self._present else np.zeros(2, np.float32)
        keep = math.exp(-1.0 / (FPS * (FOLLOW_SECS if self._present else RETURN_SECS)))
        for i in range(frames):
            self._state = keep * self._state + (1 - keep) * target
            tx, ty = float(self._state[0]), float(self._state[1])
            horizontal = float(np.clip(EYES_PER_TX * tx, -EYES_MAX, EYES_MAX))
            if horizontal > 0:  # toward image left
                out[i, _OUT_R] = out[i, _IN_L] = horizontal
            else:
                out[i, _IN_R] = out[i, _OUT_L] = -horizontal
            vertical = float(np.clip(EYES_PER_TY * ty, -EYES_MAX, EYES_MAX))  # ty > 0: lower
            for column in (_DOWN if vertical > 0 else _UP):
                out[i, column] = abs(vertical)
            out[i, _YAW] = YAW_PER_TX * tx
        return out
