"""The frames right after a reply's hand-over block, shown from its mouths when late.

Why: a reply's first block is shown from mouths of the held image drawn while the
reply was thought up (hand_over.py), and the blocks after it glide from that held pose
over GLIDE_FRAMES (session.py). Those next frames are drawn one at a time just when
the machine is busiest (the rest of the reply is synthesised, the client starts
playing), so a few slow drawings there can spend the lead the reply built and leave
its voice behind. Where the clock finds such a frame already short of time
(pipelines/face/late_mouths.py), it shows the mouth drawn ahead whose jaw is nearest
the one the frame asks for instead: no drawing, lips still on the voice, the pose the
glide is still close to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.live.hand_over import Mouths
from avatar.live.session_types import PlannedFrame
from avatar.motion import column_index

_JAW = column_index("jawOpen")


@dataclass(frozen=True)
class LateMouths:
    """The mouths a reply's hand-over block was shown from, kept for the frames after
    that block while they glide from its held pose (`first_index` up to `until_index`,
    exclusive), for the reply's `generation` at video `size`."""

    mouths: Mouths
    generation: int
    first_index: int
    until_index: int
    size: int

    def covers(self, frame: PlannedFrame, size: int) -> bool:
        """`frame` may be shown from these mouths: one of the glide's frames, of the
        same reply, with the video still at their size."""
        return (self.first_index <= frame.index < self.until_index
                and frame.generation == self.generation and size == self.size)

    def picture(self, frame: PlannedFrame) -> tuple[np.ndarray, np.ndarray, bytes | None]:
        """The mouth for `frame`: the one whose jaw is nearest the jaw its motion asks
        for (the generator's, with its voice); its motion, image and JPEG."""
        return self.mouths.nearest(float(frame.motion[_JAW]))


__all__ = ["LateMouths"]
