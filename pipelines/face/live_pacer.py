"""When pipecat's live video output will draw an image pushed now, and when to push one.

A pipecat output transport with `video_out_is_live` draws its queued images on a
schedule of its own (`_video_is_live_handler`): the first image one frame after it
comes, then image i at start + (i + 1) frames; an image that comes after its slot is
drawn at once without using the slot up, and one more than five frames off the
schedule restarts it. So the same pushes can be held 0 to 200 ms, depending on what
came before: a burst of two images at the start shifts every later image by a
frame for good. `LiveVideoPacer` replays that rule on our own pushes, so each image
can be pushed when it will be drawn with its audio: at once when its slot is its
time, later when the schedule runs early, and not at all when the slot already
taken is too late for it (the next image shows in its place).
"""

from __future__ import annotations

from dataclasses import dataclass

#: pipecat restarts its schedule when an image is this many frames off it
RESET_FRAMES = 5


@dataclass
class PushPlan:
    """What to do with an image due to be seen at some time: push it at `push_at`
    (monotonic s; now or later), or drop it (its slot would show it too late)."""

    drop: bool
    push_at: float


class LiveVideoPacer:
    """pipecat's live video schedule, replayed on the images we push (monotonic s)."""

    def __init__(self, frame_secs: float) -> None:
        """`frame_secs`: one frame of the transport's `video_out_framerate`."""
        self.frame_secs = frame_secs
        self._start: float | None = None
        self._index = 0
        #: when the image pushed last is drawn (the next is taken from the queue then)
        self._busy_until = 0.0

    def reset(self) -> None:
        """An interruption: pipecat restarts its video task (a new schedule, an empty queue)."""
        self._start = None
        self._index = 0
        self._busy_until = 0.0

    def draw_time(self, push_at: float) -> float:
        """When an image pushed at `push_at` would be drawn (the state is not changed)."""
        return self._step(push_at)[0]

    def pushed(self, at: float) -> float:
        """An image was pushed at `at`: follow the schedule; returns when it is drawn."""
        drawn, self._start, self._index = self._step(at)
        self._busy_until = drawn
        return drawn

    def plan(self, now: float, show_at: float) -> PushPlan:
        """When to push an image that should be seen at `show_at`, deciding at `now`:
        now if it would be drawn within half a frame of its time (but never leaning on
        pipecat to hold it more than a frame); at the time that draws it on time if
        pushing now shows it early; dropped if even now is late."""
        half = self.frame_secs / 2
        drawn = self.draw_time(now)
        if drawn > show_at + half:
            return PushPlan(drop=True, push_at=now)
        if drawn >= show_at - half:
            if drawn - now > self.frame_secs + half:
                # on time only if pipecat holds it over a frame: a replay that drifted
                # from pipecat's own schedule (a stall near its restart) would show it
                # that early, so it is pushed at most a frame before its time
                return PushPlan(drop=False, push_at=max(now, show_at - self.frame_secs))
            return PushPlan(drop=False, push_at=now)
        # early: an image after its slot is drawn when it comes; the first of a
        # schedule, one frame after it comes
        lead = self.frame_secs if self._start is None else 0.0
        return PushPlan(drop=False, push_at=max(now, show_at - lead))

    def _step(self, at: float) -> tuple[float, float, int]:
        """pipecat's rule for one image pushed at `at`: (drawn at, start, index) after it."""
        taken = max(at, self._busy_until)  # the handler takes it once the last is drawn
        frame = self.frame_secs
        if self._start is None:
            return taken + frame, taken, 1
        delay = frame + self._index * frame - (taken - self._start)
        if abs(delay) > RESET_FRAMES * frame:
            return taken, taken, 0
        if delay > 0:
            return taken + delay, self._start, self._index + 1
        return taken, self._start, self._index


__all__ = ["RESET_FRAMES", "LiveVideoPacer", "PushPlan"]
