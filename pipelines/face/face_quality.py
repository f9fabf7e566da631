"""A running face's quality level: the governor's samples and decisions, and a level
held whatever the load (a kiosk's attract mode while nobody is there).

A level is a render size, a camera rate and a draw stride (one image drawn in n, the
others repeat it); never audio. The governor (avatar/live/quality.py) gets one sample
a frame and may move the level once a block. A turn's speech models are planned for:
the frames drawn while the reply is thought up and for TURN_TAIL_SECS after (the LLM
writing the rest of the reply, piper speaking it) count neither way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from loguru import logger

from avatar.live.quality import QualityChange, QualityGovernor, QualityLevel
from pipelines.face.camera_input import CameraInput
from pipelines.face.face_generator import FaceGenerator

#: frames between two of the governor's decisions (a block)
DECIDE_EVERY_FRAMES = 5
#: after the reply's first audio the LLM still writes the rest of it (~96 tokens on one
#: thread) and piper speaks each sentence as it comes: a burst of the turn that the
#: governor must not chase
TURN_TAIL_SECS = 4.0


class FaceQuality:
    """One session's level while its clock runs."""

    def __init__(self, generator: FaceGenerator, camera: CameraInput,
                 governor: QualityGovernor | None,
                 changed: Callable[[QualityChange], Awaitable[None]]) -> None:
        self._generator = generator
        self._camera = camera
        self._changed = changed
        self.governor: QualityGovernor | None = None
        #: draw one frame in this many (the level's); the others repeat it
        self.draw_stride = 1
        self.use_governor(governor)
        #: a level held whatever the load, and the size, camera rate and stride it replaced
        self.held: QualityLevel | None = None
        self._before_hold: tuple[int, float, int] | None = None
        self._busy_seen = 0.0

    def use_governor(self, governor: QualityGovernor | None) -> None:
        """A new governor (a new asked size): its level's stride from now on."""
        self.governor = governor
        self.draw_stride = 1 if governor is None else governor.quality.draw_stride

    async def observe(self, late: bool, frames_sent: int, thinking: bool) -> None:
        """One frame's sample to the governor; at block ends, apply its decision.

        `late`: the frame's image had to be repeated because rendering it would have
        been too late, the degradation a viewer sees. A frame merely pushed after its
        planned lead is not counted: the client's jitter buffer hides it. `thinking`:
        the reply is being thought up (the turn's burst is planned from here)."""
        if self.governor is None:
            return
        now = time.monotonic()
        worker = self._generator.worker
        busy, self._busy_seen = worker.busy_secs - self._busy_seen, worker.busy_secs
        if self.held is not None:
            return  # a held level is not the governor's: its load says nothing of them
        if thinking:
            self.governor.plan_until(now + TURN_TAIL_SECS)
        self.governor.observe(now, busy_secs=busy, late=int(late), planned=thinking)
        if frames_sent % DECIDE_EVERY_FRAMES == 0:
            change = self.governor.decide(now)
            if change is not None:
                await self.apply(change)

    async def apply(self, change: QualityChange) -> None:
        """Take a new level: camera rate at once, size from the next drawn frame
        (renderer built in the worker)."""
        quality = change.quality
        self._camera.set_rate(quality.camera_fps)
        self.draw_stride = quality.draw_stride
        await self._resize(quality.size)
        self._generator.counters.quality_changes += 1
        logger.info(f"avatar quality {change.direction} to level {change.level}: {change.reason}")
        await self._changed(change)

    async def hold(self, level: QualityLevel | None) -> None:
        """Hold `level` whatever the load, or with None give the session back its own
        level: the governor's, measured afresh, or without a governor what it had
        before the hold. Renderers are kept per size, so coming back costs nothing."""
        session = self._generator.session
        if level is not None:
            if self.held is None:
                self._before_hold = (session.options.size, self._camera.rate, self.draw_stride)
                if self.governor is not None:  # its samples end here: none stay to go stale
                    self.governor.resume(time.monotonic())
            self.held = level
            size, camera_fps, stride = level.size, level.camera_fps, level.draw_stride
        else:
            if self.held is None:
                return
            self.held = None
            if self.governor is not None:
                self.governor.resume(time.monotonic())
                quality = self.governor.quality
                size, camera_fps, stride = quality.size, quality.camera_fps, quality.draw_stride
            else:
                assert self._before_hold is not None
                size, camera_fps, stride = self._before_hold
        self._camera.set_rate(camera_fps)
        self.draw_stride = stride
        await self._resize(size)
        ladder = self.governor.ladder if self.governor is not None else []
        index = self.governor.level if self.governor is not None else 0
        held = level is not None
        await self._changed(QualityChange(
            level=max(index, len(ladder) - 1) if held else index,
            quality=QualityLevel(size, camera_fps, stride), previous=index,
            direction="down" if held else "up",
            reason=("nobody there: the face idles cheaply" if held
                    else "someone is there: the session's own level"), busy=0.0))

    async def _resize(self, size: int) -> None:
        session = self._generator.session
        if size != session.options.size:
            await self._generator.job(session.set_size, size)


__all__ = ["FaceQuality"]
