"""Short motion gestures as additive (frames, MOTION_DIM) profiles at 25 fps.

Why profiles: nods, blinks, brow raises and laughs have a typical time course
(a nod is ~0.5 s down and back, a blink ~150 ms); playing a shaped profile gives
human-looking timing with a few numbers, and the same profile serves the corpus
and the rule-based baseline. Amplitudes follow what mediapipe measures on real
faces (nods 5-10 deg of pitch, closed eyes 0.6-0.9 eyeBlink).
"""

from __future__ import annotations

import numpy as np

from avatar.audio_features import FPS
from avatar.motion import MOTION_DIM, column_index

PITCH = column_index("pitch")
YAW = column_index("yaw")
ROLL = column_index("roll")
BLINK = (column_index("eyeBlinkLeft"), column_index("eyeBlinkRight"))
EYE_SQUINT = (column_index("eyeSquintLeft"), column_index("eyeSquintRight"))
BROW_INNER = column_index("browInnerUp")
BROW_OUTER = (column_index("browOuterUpLeft"), column_index("browOuterUpRight"))
EYE_WIDE = (column_index("eyeWideLeft"), column_index("eyeWideRight"))
SMILE = (column_index("mouthSmileLeft"), column_index("mouthSmileRight"))
CHEEK_SQUINT = (column_index("cheekSquintLeft"), column_index("cheekSquintRight"))
DIMPLE = (column_index("mouthDimpleLeft"), column_index("mouthDimpleRight"))
JAW = column_index("jawOpen")
# gaze: eyes looking to the viewer's right = left eye out + right eye in, etc.
LOOK_LEFT_EYE = {"out": column_index("eyeLookOutLeft"), "in": column_index("eyeLookInLeft"),
                 "up": column_index("eyeLookUpLeft"), "down": column_index("eyeLookDownLeft")}
LOOK_RIGHT_EYE = {"out": column_index("eyeLookOutRight"), "in": column_index("eyeLookInRight"),
                  "up": column_index("eyeLookUpRight"), "down": column_index("eyeLookDownRight")}


def _frames(seconds: float) -> int:
    return max(2, int(round(seconds * FPS)))


def nod(amplitude_deg: float, duration_s: float = 0.55, repeats: int = 1) -> np.ndarray:
    """Chin-down-and-back nod(s); each repeat is 60 % of the previous amplitude."""
    n = _frames(duration_s)
    one = np.sin(np.linspace(0, np.pi, n)) ** 1.5
    parts = [one * amplitude_deg * (0.6**k) for k in range(repeats)]
    out = np.zeros((n * repeats, MOTION_DIM), np.float32)
    out[:, PITCH] = np.concatenate(parts)
    return out


def blink(depth: float = 0.8) -> np.ndarray:
    """A ~160 ms blink: close fast, reopen slower (4 frames)."""
    shape = np.array([0.45, 1.0, 0.6, 0.15], np.float32) * depth
    out = np.zeros((len(shape), MOTION_DIM), np.float32)
    for col in BLINK:
        out[:, col] = shape
    for col in EYE_SQUINT:
        out[:, col] = shape * 0.15
    return out


def brow_raise(amplitude: float, duration_s: float = 0.8) -> np.ndarray:
    """Eyebrow flash: quick rise, short hold, slower fall; eyes widen a little."""
    n = _frames(duration_s)
    rise = max(2, n // 5)
    shape = np.concatenate([
        np.linspace(0, 1, rise), np.ones(n // 3), np.linspace(1, 0, n - rise - n // 3)
    ]).astype(np.float32)
    out = np.zeros((n, MOTION_DIM), np.float32)
    out[:, BROW_INNER] = shape * amplitude
    for col in BROW_OUTER:
        out[:, col] = shape * amplitude * 0.7
    for col in EYE_WIDE:
        out[:, col] = shape * amplitude * 0.25
    return out


def head_tilt(roll_deg: float, duration_s: float = 1.0) -> np.ndarray:
    """A slow sideways head tilt and back (e.g. at the end of a question)."""
    n = _frames(duration_s)
    out = np.zeros((n, MOTION_DIM), np.float32)
    out[:, ROLL] = np.sin(np.linspace(0, np.pi, n)) * roll_deg
    return out


def gaze_shift(direction: str, amount: float, duration_s: float) -> np.ndarray:
    """Eyes look away (left/right/up/down) and come back, with a small head follow."""
    n = _frames(duration_s)
    edge = min(3, n // 2)
    shape = np.ones(n, np.float32)
    shape[:edge] = np.linspace(0.2, 1, edge)
    shape[-edge:] = np.linspace(1, 0.1, edge)
    out = np.zeros((n, MOTION_DIM), np.float32)
    if direction == "left":  # viewer's left: left eye in, right eye out
        out[:, LOOK_LEFT_EYE["in"]] = out[:, LOOK_RIGHT_EYE["out"]] = shape * amount
        out[:, YAW] = -shape * amount * 4.0
    elif direction == "right":
        out[:, LOOK_LEFT_EYE["out"]] = out[:, LOOK_RIGHT_EYE["in"]] = shape * amount
        out[:, YAW] = shape * amount * 4.0
    elif direction == "up":
        out[:, LOOK_LEFT_EYE["up"]] = out[:, LOOK_RIGHT_EYE["up"]] = shape * amount
        out[:, PITCH] = -shape * amount * 4.0
    elif direction == "down":
        out[:, LOOK_LEFT_EYE["down"]] = out[:, LOOK_RIGHT_EYE["down"]] = shape * amount
        out[:, PITCH] = shape * amount * 4.0
    else:
        raise ValueError(f"unknown gaze direction {direction!r}")
    return out

