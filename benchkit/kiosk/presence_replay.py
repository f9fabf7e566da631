"""What the server's camera analysis and presence tracker make of a presence scene.

Why here: tests/avatar/test_presence_scenes.py asserts on it and bench/kiosk/presence.py
checks its scenes' ground truth and plots with it. Each frame goes the way a
kiosk's camera does (`encode_camera_jpeg`, 320 px, into
`avatar.live.camera.CameraMotion.analyze_jpeg`), and the tracker
(avatar/live/presence.py) is fed as a kiosk session feeds it
(pipelines/kiosk/visitor_watch.py), on the scene's clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from avatar.live.presence import PresenceParams, PresenceState, Sighting
from benchkit.kiosk.presence_scenes import Scene

if TYPE_CHECKING:
    from avatar.live.camera import CameraMotion
    from avatar.live.presence import PresenceChange


@dataclass(frozen=True)
class Measured:
    """The landmarker's reading of one scene frame (as the server reads the camera:
    a 320 px JPEG through avatar.live.camera.CameraMotion); NaN where no face."""

    t: float
    found: bool
    scale: float
    yaw: float  # camera space, as the landmarker reads it
    pitch: float
    tx: float = float("nan")  # face centre: share of the frame from its centre
    ty: float = float("nan")
    cpu_ms: float = 0.0  # the process's CPU time in the analysis (decode included)

    def sighting(self) -> Sighting | None:
        """What the presence tracker is fed (None: no face)."""
        return Sighting(self.scale, self.yaw, self.pitch, self.tx, self.ty) if self.found else None


def measure(frames: Iterator[tuple[float, np.ndarray]], *,
            camera: CameraMotion | None = None) -> Iterator[Measured]:
    """What the server's camera analysis reads in each frame: each frame sent as the
    SDK sends it (`encode_camera_jpeg`, 320 px) into `CameraMotion.analyze_jpeg`.
    Pass a `camera` (a CameraMotion) to reuse one; else one is made and closed."""
    from avatar.live.camera import CameraMotion
    from avatar.motion import column_index
    from sdk.images import encode_camera_jpeg

    yaw, pitch, scale = column_index("yaw"), column_index("pitch"), column_index("scale")
    tx, ty = column_index("tx"), column_index("ty")
    own = camera is None
    motion_of = CameraMotion() if camera is None else camera
    try:
        for t, rgb in frames:
            jpeg = encode_camera_jpeg(rgb)
            cpu = time.process_time()
            motion = motion_of.analyze_jpeg(jpeg, int(round(t * 1000)))
            cpu_ms = 1000 * (time.process_time() - cpu)
            if motion is None:
                nan = float("nan")
                yield Measured(t, False, nan, nan, nan, nan, nan, cpu_ms)
            else:
                yield Measured(t, True, float(motion[scale]), float(motion[yaw]),
                               float(motion[pitch]), float(motion[tx]), float(motion[ty]),
                               cpu_ms)
    finally:
        if own:
            motion_of.close()


def speech_secs(words: str) -> float:
    """About how long `words` take to say (for a replay without the audio)."""
    return 0.3 + 0.33 * len(words.split())


@dataclass
class Replay:
    """What the presence tracker did over one scene (`replay`)."""

    changes: list[PresenceChange]
    measured: list[Measured]  # the analysed frames only
    states: list[tuple[float, PresenceState]]  # the state after each frame

    def arrivals(self) -> list[PresenceChange]:
        return [c for c in self.changes if c.arrived]

    def departures(self) -> list[PresenceChange]:
        return [c for c in self.changes if c.left]

    def state_at(self, t: float) -> PresenceState:
        """The state after the last frame at or before `t`."""
        state = PresenceState.AWAY
        for at, now in self.states:
            if at > t:
                break
            state = now
        return state


def replay(scene: Scene, params: PresenceParams | None = None, *, fps: float = 5.0,
           attract_fps: float = 2.0, tick_secs: float = 0.2,
           voice: bool = True, far_faces: bool = True) -> Replay:
    """Run `scene` through the camera analysis and the presence tracker the way a
    kiosk session does (pipelines/kiosk/visitor_watch.py): frames at `fps`, only
    `attract_fps` of them analysed while nobody is there, the tracker ticked every
    `tick_secs`, and the scene's speech as VAD edges (`voice`), on the scene's clock;
    `far_faces`: the camera looks for faces too small for the whole frame around motion
    (False: as before it did)."""
    from avatar.live.camera import CameraMotion
    from avatar.live.presence import PresenceTracker

    tracker = PresenceTracker(params)
    edges = sorted([(start, True) for start, _ in scene.speech]
                   + [(start + speech_secs(words), False) for start, words in scene.speech]
                   ) if voice else []
    changes: list[PresenceChange] = []
    measured: list[Measured] = []
    states: list[tuple[float, PresenceState]] = []
    camera = CameraMotion(far_faces=far_faces)
    next_tick, next_attract = 0.0, 0.0

    def advance(until: float) -> None:
        nonlocal next_tick
        while True:  # ticks and VAD edges up to `until`, in time order
            edge_at = edges[0][0] if edges else float("inf")
            at = min(next_tick, edge_at)
            if at > until:
                return
            if edge_at <= next_tick:
                _, speaking = edges.pop(0)
                change = tracker.voice(speaking, edge_at)
            else:
                change = tracker.tick(next_tick)
                next_tick += tick_secs
            if change is not None:
                changes.append(change)

    try:
        for t, rgb in scene.frames(fps):
            advance(t)
            if tracker.state is not PresenceState.AWAY or t + 1e-6 >= next_attract:
                next_attract = t + 1.0 / attract_fps
                row = next(measure(iter([(t, rgb)]), camera=camera))
                measured.append(row)
                change = tracker.camera(row.sighting(), t)
                if change is not None:
                    changes.append(change)
            states.append((t, tracker.state))
        advance(scene.seconds)
    finally:
        camera.close()
    return Replay(changes, measured, states)


__all__ = ["Measured", "Replay", "measure", "replay", "speech_secs"]
