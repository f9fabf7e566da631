"""Listening cues: visible attention from the moment the user starts to speak.

Why a rule layer on top of the generator: the shipped generator's own reaction
to a live user is weak (about 0.1 degree of head motion between a user speaking
and silence, measured in tests/avatar/test_live_session.py; issue "reactions to
a real person" covers retraining). A kiosk visitor must see that they are being
listened to, at VAD time rather than after the transcript, so the session adds
a small, smooth, well-known listener display (Duncan; Heylen's listening agents):
- attention while the user speaks: head tilted a few degrees, chin slightly up,
  brows a little raised, eyes a little wider; eased in over ~0.3 s, out over ~0.6 s;
- a nod when the user pauses or ends a turn (a backchannel: "I heard you").
Offsets are added to the generated motion before the jitter filter, so the
generator's own motion (blinks, idle sway, lip sync) stays underneath.
"""

from __future__ import annotations

import math

import numpy as np

from avatar.motion import MOTION_DIM, column_index

FPS = 25.0

#: Offset at full attention (motion-space units: degrees for pose, 0..1 blendshapes).
ATTENTION = {
    "roll": 3.0,  # a listening head tilt
    "pitch": -1.5,  # chin a little up (pitch > 0 is chin down, avatar/motion.py)
    "browInnerUp": 0.12,
    "eyeWideLeft": 0.10,
    "eyeWideRight": 0.10,
}
#: a welcoming smile when a kiosk visitor arrives: eased in, held, eased out
WELCOME_SMILE = {
    "mouthSmileLeft": 0.45,
    "mouthSmileRight": 0.45,
    "cheekSquintLeft": 0.15,
    "cheekSquintRight": 0.15,
}
SMILE_IN_SECS, SMILE_HOLD_SECS, SMILE_OUT_SECS = 0.4, 1.6, 0.8
NOD_DEGREES = 4.0  # one nod: the chin goes down this far and back (pitch > 0 is down)
NOD_SECS = 0.6
ATTACK_SECS = 0.3
RELEASE_SECS = 0.6


class ListeningCues:
    """Per-frame attention/nod offsets driven by the user's speech start and stop."""

    def __init__(self) -> None:
        self._attention_vector = np.zeros(MOTION_DIM, np.float32)
        for name, value in ATTENTION.items():
            self._attention_vector[column_index(name)] = value
        self._pitch = column_index("pitch")
        self.user_speaking = False
        self._level = 0.0
        self._nod_frame = -1  # frames into the current nod, -1 when none
        self._smile_vector = np.zeros(MOTION_DIM, np.float32)
        for name, value in WELCOME_SMILE.items():
            self._smile_vector[column_index(name)] = value
        self._smile_frame = -1  # frames into the welcome smile, -1 when none

    def welcome(self) -> None:
        """A visitor arrived: smile at them (about three seconds)."""
        self._smile_frame = 0

    def set_user_speaking(self, speaking: bool) -> None:
        """VAD edge: start attending, or nod once the user stops."""
        if self.user_speaking and not speaking:
            self._nod_frame = 0
        self.user_speaking = speaking

    def offsets(self, frames: int) -> np.ndarray:
        """(frames, MOTION_DIM) offsets for the next frames, advancing the state."""
        out = np.zeros((frames, MOTION_DIM), np.float32)
        for k in range(frames):
            target = 1.0 if self.user_speaking else 0.0
            secs = ATTACK_SECS if target > self._level else RELEASE_SECS
            self._level += (target - self._level) * min(1.0, 3.0 / (secs * FPS))
            out[k] = self._level * self._attention_vector
            if self._nod_frame >= 0:
                phase = self._nod_frame / (NOD_SECS * FPS)
                out[k, self._pitch] += NOD_DEGREES * math.sin(math.pi * phase)
                self._nod_frame = self._nod_frame + 1 if phase < 1.0 else -1
            if self._smile_frame >= 0:
                out[k] += _smile_envelope(self._smile_frame / FPS) * self._smile_vector
                self._smile_frame += 1
                if self._smile_frame > (SMILE_IN_SECS + SMILE_HOLD_SECS + SMILE_OUT_SECS) * FPS:
                    self._smile_frame = -1
        return out


def _smile_envelope(secs: float) -> float:
    """0..1 along the welcome smile: a smoothstep in, a hold, a smoothstep out."""
    def smooth(x: float) -> float:
        x = min(1.0, max(0.0, x))
        return x * x * (3.0 - 2.0 * x)
    if secs < SMILE_IN_SECS:
        return smooth(secs / SMILE_IN_SECS)
    secs -= SMILE_IN_SECS + SMILE_HOLD_SECS
    return 1.0 if secs < 0 else 1.0 - smooth(secs / SMILE_OUT_SECS)
