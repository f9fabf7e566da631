"""A reply's hand-over block: its first 200 ms shown from mouths drawn before it came.

Why: a reply's first frame goes out with its first audio (the lead-in, session.py), but
the frames after it waited for the block's generator step and then one drawing each, on
a box where whisper, the LLM and piper take the cores just then; a client that started
playing with the first frame could run dry in the reply's first few hundred ms. While
the reply is thought up the face holds its image and the worker is free, so the face
draws that image again with the jaw opened to a few levels (`HAND_OVER_JAWS`). When the
reply's first audio comes, every frame of its first block is planned at once from the
held pose, each with the picture whose jaw is nearest the one its own audio asks for
(`VoiceJaw.opening`, as the lead-in): no step and no drawing stand between the voice
and its first 200 ms, lips on the voice from the first syllable. The generator steps
that block afterwards (its motion state moves on) and its next blocks glide from the
held pose (session.py `step_block`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from avatar.live.session_types import FRAME_US, PlannedFrame
from avatar.motion import column_index

#: jawOpen levels drawn on the held image while a reply is thought up, in the order they
#: are drawn (one a frame): speech's common openings first, so a reply that comes early
#: finds them; the voice asks for about 0.2 at its running level, loud vowels twice that
HAND_OVER_JAWS = (0.2, 0.35, 0.1, 0.5, 0.27)
_JAW = column_index("jawOpen")


@dataclass
class Mouths:
    """The held image (`pose`, its motion) and the pictures of it with the jaw opened."""

    pose: np.ndarray
    image: np.ndarray
    jpeg: bytes | None
    #: (jawOpen, image, JPEG), in the order drawn
    drawn: list[tuple[float, np.ndarray, bytes | None]] = field(default_factory=list)

    def next_jaw(self, slack: float) -> float | None:
        """The next level to draw (None: all drawn); levels within `slack` of the held
        image's own jaw are that image already."""
        done = {jaw for jaw, _, _ in self.drawn}
        held = float(self.pose[_JAW])
        return next((jaw for jaw in HAND_OVER_JAWS if jaw > held + slack and jaw not in done),
                     None)

    def motion(self, jaw: float) -> np.ndarray:
        """The held pose with its jaw at `jaw`."""
        motion = self.pose.copy()
        motion[_JAW] = jaw
        return motion

    def nearest(self, want: float) -> tuple[np.ndarray, np.ndarray, bytes | None]:
        """The picture whose jaw is nearest `want`, the held image's own included: its
        motion (the held pose with that jaw), image and JPEG."""
        held = float(self.pose[_JAW])
        choices = [(held, self.pose, self.image, self.jpeg)]
        choices += [(jaw, self.motion(jaw), image, jpeg) for jaw, image, jpeg in self.drawn]
        _, motion, image, jpeg = min(choices, key=lambda choice: abs(choice[0] - want))
        return motion, image, jpeg


@dataclass
class HandOver:
    """A reply's first block planned from `Mouths`: its frames, and each frame's picture
    by frame index (the session's `render` shows it instead of drawing)."""

    frames: list[PlannedFrame]
    pictures: dict[int, tuple[np.ndarray, bytes | None]]
    #: the first frame's picture is the held image itself (nothing new shows)
    first_shown: bool


def plan_hand_over(mouths: Mouths, *, first_index: int, audio: bytes, real: int,
                   position: int, openings: np.ndarray, samples_per_frame: int,
                   user_frames: int, generation: int) -> HandOver:
    """The block from `first_index` whose reply audio is `audio` (`real` samples of it
    the reply's, the rest padding; `position`: reply samples out after its last), each
    frame shown with the picture whose jaw is nearest `openings[k]` (the jaw its audio
    asks for; the held jaw where wider)."""
    held = float(mouths.pose[_JAW])
    spf = samples_per_frame
    frames, pictures = [], {}
    for k in range(len(openings)):
        speaking = real > k * spf
        want = max(held, float(openings[k])) if speaking else held
        motion, image, jpeg = mouths.nearest(want)
        index = first_index + k
        frames.append(PlannedFrame(
            index=index, pts_us=index * FRAME_US, audio=audio[k * spf * 2:(k + 1) * spf * 2],
            motion=motion, speaking=speaking,
            reply_position=position - max(0, real - (k + 1) * spf),
            user_frames=user_frames, generation=generation,
            reply_samples=min(spf, max(0, real - k * spf))))
        pictures[index] = (image, jpeg)
    return HandOver(frames, pictures, first_shown=pictures[first_index][0] is mouths.image)


__all__ = ["HAND_OVER_JAWS", "HandOver", "Mouths", "plan_hand_over"]
