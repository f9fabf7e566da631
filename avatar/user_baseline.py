"""The user's face relative to their own running baseline: what the generator reads.

Why: people differ at rest. A real user's neutral face reads mouthSmile 0.0-0.3,
eyeSquint 0.1-0.4 and a head turned 10 deg off-camera, depending on the person,
the light and where the camera sits; the synthetic partners of the corpus do
not. A model that reads absolute values learns the corpus's resting faces and
reads a real resting face as an expression, or a real smile as nothing new. The
corpus rules that decide the avatar's reactions never look at absolute values:
they compare the partner's smile and brows with a running baseline that follows
the partner's lows quickly and highs slowly (avatar/corpus/rules.py). Feeding the
model the same kind of signal puts its input in the space where the reactions
live, and makes it blind to a person's constant offsets by construction.

Blendshapes (activations, >= 0): the baseline follows a drop within ~1 s and a
rise over ~20 s, so a smile stands out for as long as it lasts and a resting
face reads ~0. Head rotation: a symmetric ~4 s baseline, so a nod or a turn
stands out and a camera placed off-axis does not. Frames without a face leave
the baseline untouched (their output is zero; the model's null embedding stands
in for them anyway); after NEW_PERSON_S without a face the baseline is
forgotten, because at a kiosk the next face is usually someone else.

Causal and exactly streamable: `UserBaseline.apply` over a whole track equals
frame-by-frame use with any chunking (tested), and `peek` transforms frames
without committing them (the live engine's provisional look-ahead rows).

It sits beside motion.py, not in avatar/generator/: the streaming engine and the
corpus dataset (which caches the same input for training) both use it, and the
data side must not import the model package (the trainer imports the data).
"""

from __future__ import annotations

import numpy as np

from avatar.motion import MOTION_DIM, POSE_SLICE

RISE_RATE = 0.002  # per frame: the baseline climbs to a held expression over ~20 s
FALL_RATE = 0.05  # per frame: it follows a relaxing face within ~1 s (as the rules)
POSE_RATE = 0.01  # per frame: head rotation relative to the last ~4 s
NEW_PERSON_FRAMES = 75  # 3 s without a face: whoever comes next starts afresh


class UserBaseline:
    """Running per-column baseline of one user's motion (one instance per session)."""

    def __init__(self) -> None:
        self.base: np.ndarray | None = None
        self.absent = 0  # consecutive frames without a face
        self._rise = np.full(MOTION_DIM, RISE_RATE, np.float32)
        self._fall = np.full(MOTION_DIM, FALL_RATE, np.float32)
        self._rise[POSE_SLICE] = self._fall[POSE_SLICE] = POSE_RATE

    def reset(self) -> None:
        """Forget the user (a new session, or a new person in front of the camera)."""
        self.base = None
        self.absent = 0

    def _step(self, base: np.ndarray | None, frame: np.ndarray) -> np.ndarray:
        if base is None:
            return frame.copy()
        rate = np.where(frame > base, self._rise, self._fall)
        return base + rate * (frame - base)

    def _run(self, motion: np.ndarray, present: np.ndarray | None, commit: bool
             ) -> np.ndarray:
        motion = np.asarray(motion, dtype=np.float32)
        if motion.ndim != 2 or motion.shape[1] != MOTION_DIM:
            raise ValueError(f"user motion must be (frames, {MOTION_DIM}), got {motion.shape}")
        if present is not None and len(present) != len(motion):
            raise ValueError(f"present has {len(present)} frames, motion {len(motion)}")
        out = np.zeros_like(motion)
        base, absent = self.base, self.absent
        for t, frame in enumerate(motion):
            if present is not None and not present[t]:
                absent += 1
                if absent >= NEW_PERSON_FRAMES:
                    base = None
                continue
            absent = 0
            base = self._step(base, frame)
            out[t] = frame - base
        if commit:
            self.base, self.absent = base, absent
        return out

    def apply(self, motion: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """(T, 58) absolute user motion -> (T, 58) relative to the running baseline;
        advances the state (these frames are final)."""
        return self._run(motion, present, commit=True)

    def peek(self, motion: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
        """Like `apply` but leaves the state as it was: for frames that will be
        given again (look-ahead rows that may still change)."""
        return self._run(motion, present, commit=False)


def relative_user_motion(motion: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """A whole track from its first frame (datasets, offline evaluation)."""
    return UserBaseline().apply(motion, present)
