"""Who is in front of the kiosk: away, approaching, engaged, leaving.

A kiosk attendant notices a visitor walk up, greets them, and forgets them when
they leave (docs/KIOSK.md). This reads only what the face already measures: the
camera analysis (is a face found, how large it is in the frame, i.e. how near,
and its yaw and pitch, i.e. whether it faces the screen) and the microphone's
VAD. Pure Python and clock-driven (`now` is passed in), so the tests and the
bench replay real clips through exactly the code the server runs.

States and what moves between them:

    away --a face large enough to be a person in front--> approaching
    away --a smaller frontal face growing between two frames (walking up)--> approaching
    approaching --near and frontal, frontal for engage_secs--> engaged  (arrived)
    approaching --speech with a frontal face in view--> engaged              (arrived)
    approaching --no face for approach_timeout_secs--> away
    engaged --no face and no voice--> leaving
    leaving --a face (any pose) or voice--> engaged
    leaving --nobody seen or heard for away_secs--> away                (left)

A passer-by never engages: too small (far), turned (walks across the view), or
frontal for less than `engage_secs`. An engaged visitor who looks at their phone
or turns to a friend stays: any face at all, or speech, resets the count, and
only `away_secs` of neither ends the visit. Without a camera (refused, broken,
or no frame for `camera_stale_secs`) presence runs on the voice alone: the first
words engage and `away_secs` of silence ends the visit.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

import numpy as np

from avatar.live.facing import LANDMARKER_FOV_DEG, facing
from avatar.motion import column_index

_YAW, _PITCH, _SCALE = column_index("yaw"), column_index("pitch"), column_index("scale")
_TX, _TY = column_index("tx"), column_index("ty")
#: a sighting this recent still counts as "the face is there now" for engaging (a
#: little more than the gap between two analysed frames at 2 a second)
FRESH_FACE_SECS = 1.1
#: walking away: the last face was this much smaller than the largest of the
#: RECEDING_SECS before it
RECEDING_RATIO = 0.75
RECEDING_SECS = 2.5


class PresenceState(enum.Enum):
    """Where the kiosk's visitor is (see the module docstring)."""

    AWAY = "away"
    APPROACHING = "approaching"
    ENGAGED = "engaged"
    LEAVING = "leaving"


@dataclass(frozen=True)
class PresenceParams:
    """When a face counts as a visitor, and how long absence lasts before they left.

    Sizes are the face's height over the frame's height (the motion space's
    `scale`): about 0.35 at arm's length from a laptop camera, 0.2 at a metre and
    a half from a kiosk, under 0.1 across a lobby.
    """

    #: a face smaller than this is not anybody in front of the kiosk (across the room)
    seen_height: float = 0.10
    #: ...and one at least this large is near enough to be greeted
    near_height: float = 0.18
    #: facing the screen: |yaw| and |pitch| at most these (degrees), turned from the
    #: line to the camera (a face looking at it from the frame's edge is frontal)
    frontal_yaw_deg: float = 25.0
    frontal_pitch_deg: float = 25.0
    #: the horizontal field of view the landmarker reads a face's bearing in (deg;
    #: avatar/live/facing.py: the landmarker's, not the lens's)
    facing_fov_deg: float = LANDMARKER_FOV_DEG
    #: frontal this long (near, or walking up) before the greeting
    engage_secs: float = 1.0
    #: an approach with no face for this long is over (the passer-by went on)
    approach_timeout_secs: float = 1.0
    #: a frontal face under `seen_height` that grew by this factor since the frame
    #: before it (within `approach_timeout_secs`) is someone walking up: approaching
    #: before they are `seen_height` tall (at 2 analysed frames a second, a walk-up
    #: otherwise crosses `seen_height` between two frames, up to half a second late;
    #: a far face standing or passing by reads at most 1.04 from frame to frame)
    walk_up_growth: float = 1.10
    #: nobody seen or heard this long: the visit is over
    away_secs: float = 15.0
    #: no camera frame for this long: the camera is gone, the voice alone decides
    camera_stale_secs: float = 3.0
    #: a face still counts as there this long after it was last found (the landmarker
    #: misses a frame, the camera pauses while a reply is thought up)
    present_grace_secs: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 < self.seen_height <= self.near_height < 1.5:
            raise ValueError(f"need 0 < seen_height <= near_height < 1.5, got "
                             f"{self.seen_height} and {self.near_height}")
        for name in ("engage_secs", "approach_timeout_secs", "away_secs", "camera_stale_secs",
                     "present_grace_secs", "frontal_yaw_deg", "frontal_pitch_deg"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.walk_up_growth <= 1.0:
            raise ValueError(f"walk_up_growth must be over 1, got {self.walk_up_growth}")
        if not 0.0 < self.facing_fov_deg < 180.0:
            raise ValueError(f"facing_fov_deg must be in (0, 180), got {self.facing_fov_deg}")


@dataclass(frozen=True)
class Sighting:
    """One analysed camera frame's visitor candidate: size, facing and place."""

    height: float  # face height / frame height
    yaw: float  # degrees in camera space, as the landmarker reads it
    pitch: float
    tx: float = 0.0  # face centre: share of the frame's width right of its centre
    ty: float = 0.0  # ...and of its height below it

    @classmethod
    def from_motion(cls, motion: np.ndarray) -> Sighting:
        """The pose and place columns of a motion frame (avatar/motion.py)."""
        return cls(float(motion[_SCALE]), float(motion[_YAW]), float(motion[_PITCH]),
                   float(motion[_TX]), float(motion[_TY]))

    def turn(self, params: PresenceParams) -> tuple[float, float]:
        """(yaw, pitch) turned from the line to the camera (degrees; 0, 0: looking at it)."""
        return facing(self.yaw, self.pitch, self.tx, self.ty, params.facing_fov_deg)

    def frontal(self, params: PresenceParams) -> bool:
        """Facing the screen, wherever in the frame the face is."""
        yaw, pitch = self.turn(params)
        return abs(yaw) <= params.frontal_yaw_deg and abs(pitch) <= params.frontal_pitch_deg


@dataclass(frozen=True)
class PresenceChange:
    """A state change, with the events an app acts on."""

    state: PresenceState
    previous: PresenceState
    at: float
    reason: str
    #: the last face seen was walking away (shrinking): a goodbye may still be heard
    receding: bool = False

    @property
    def arrived(self) -> bool:
        """A visitor engaged: greet them."""
        return self.state is PresenceState.ENGAGED and self.previous is not PresenceState.LEAVING

    @property
    def left(self) -> bool:
        """The visitor is gone: forget them."""
        return self.state is PresenceState.AWAY and self.previous in (
            PresenceState.ENGAGED, PresenceState.LEAVING)


class PresenceTracker:
    """One kiosk session's presence (not thread-safe: the event loop feeds it).

    Feed it `camera(sighting_or_None, now)` for every analysed camera frame,
    `voice(speaking, now)` on VAD edges, and `tick(now)` a few times a second;
    each returns the state change it caused, or None.
    """

    def __init__(self, params: PresenceParams | None = None) -> None:
        self.params = params or PresenceParams()
        self.state = PresenceState.AWAY
        self._camera_at: float | None = None  # last camera frame (with or without a face)
        self._face_at: float | None = None  # last face of any pose at least seen_height
        self._frontal_since: float | None = None  # a frontal face seen without a break since
        self._near_frontal = False  # the last sighting was near and frontal
        self._speaking = False
        self._voice_at: float | None = None  # last moment speech was heard
        self._heights: deque[tuple[float, float]] = deque()  # (time, face height) lately
        self._small_face: tuple[float, float] | None = None  # (time, height) under seen_height
        self._walking_up_at: float | None = None  # a small face last seen growing

    # ------------------------------------------------------------------ inputs
    def camera(self, sighting: Sighting | None, now: float) -> PresenceChange | None:
        """One analysed camera frame: its visitor candidate, or None (no face)."""
        params = self.params
        self._camera_at = now
        if sighting is not None and sighting.height >= params.seen_height:
            self._face_at = now
            self._heights.append((now, sighting.height))
            while self._heights and self._heights[0][0] < now - RECEDING_SECS:
                self._heights.popleft()
            if sighting.frontal(params):
                if self._frontal_since is None:
                    self._frontal_since = now
                self._near_frontal = sighting.height >= params.near_height
            else:
                self._frontal_since = None
                self._near_frontal = False
        else:
            self._frontal_since = None
            self._near_frontal = False
            self._note_small_face(sighting, now)
        return self.tick(now)

    def _note_small_face(self, sighting: Sighting | None, now: float) -> None:
        """A face too small to be in front: someone walking up when it is frontal and
        grew since the frame before."""
        params = self.params
        if sighting is None or not sighting.frontal(params):
            self._small_face = None
            return
        before = self._small_face
        if (before is not None and now - before[0] <= params.approach_timeout_secs
                and sighting.height >= params.walk_up_growth * before[1]):
            self._walking_up_at = now
        self._small_face = (now, sighting.height)

    def voice(self, speaking: bool, now: float) -> PresenceChange | None:
        """A VAD edge of the visitor's microphone."""
        self._speaking = speaking
        self._voice_at = now
        return self.tick(now)

    def camera_lost(self, now: float) -> PresenceChange | None:
        """The camera is gone for good (refused, failed): the voice alone decides."""
        self._camera_at = None
        self._frontal_since = None
        self._near_frontal = False
        return self.tick(now)

    # ------------------------------------------------------------------- state
    def has_camera(self, now: float) -> bool:
        """Camera frames are arriving."""
        return (self._camera_at is not None
                and now - self._camera_at <= self.params.camera_stale_secs)

    def last_seen_or_heard(self) -> float | None:
        """When a face or speech was last there (None: never)."""
        moments = [t for t in (self._face_at, self._voice_at) if t is not None]
        return max(moments) if moments else None

    def receding(self) -> bool:
        """The last face seen was walking away (shrinking), not turning aside: a
        goodbye may still be heard."""
        if len(self._heights) < 2:
            return False
        return self._heights[-1][1] < RECEDING_RATIO * max(h for _, h in self._heights)

    def tick(self, now: float) -> PresenceChange | None:
        """Time-driven transitions; call a few times a second."""
        params, state = self.params, self.state
        heard = self._speaking or (self._voice_at is not None
                                   and now - self._voice_at < params.approach_timeout_secs)
        if state is PresenceState.AWAY:
            if self._engages(now):
                return self._move(PresenceState.ENGAGED, now, self._engage_reason(now))
            if self._face_recent(now, params.approach_timeout_secs) and self._frontal_since:
                return self._move(PresenceState.APPROACHING, now, "a frontal face came into view")
            if self._walking_up(now):
                return self._move(PresenceState.APPROACHING, now,
                                  "a frontal face far off, growing (walking up)")
            return None
        if state is PresenceState.APPROACHING:
            if self._engages(now):
                return self._move(PresenceState.ENGAGED, now, self._engage_reason(now))
            if (not self._face_recent(now, params.approach_timeout_secs)
                    and not self._walking_up(now) and not heard):
                return self._move(PresenceState.AWAY, now, "the face went by without stopping")
            return None
        grace = params.present_grace_secs
        present = (self._speaking or self._face_recent(now, grace)
                   or (self._voice_at is not None and now - self._voice_at <= grace))
        if state is PresenceState.ENGAGED:
            if not present:
                return self._move(PresenceState.LEAVING, now, "nobody seen or heard")
            return None
        # LEAVING
        if present:
            return self._move(PresenceState.ENGAGED, now, "seen or heard again")
        last = self.last_seen_or_heard()
        if last is None or now - last >= params.away_secs:
            return self._move(PresenceState.AWAY, now,
                              f"nobody seen or heard for {params.away_secs:g} s")
        return None

    # ----------------------------------------------------------------- helpers
    def _face_recent(self, now: float, within: float) -> bool:
        return self._face_at is not None and now - self._face_at <= within

    def _walking_up(self, now: float) -> bool:
        """A small frontal face grew lately, and is still in view."""
        small = self._small_face
        return (self._walking_up_at is not None and small is not None
                and now - self._walking_up_at <= self.params.approach_timeout_secs
                and now - small[0] <= self.params.approach_timeout_secs)

    def _engages(self, now: float) -> bool:
        params = self.params
        if self.has_camera(now):
            held = (self._frontal_since is not None and self._near_frontal
                    and now - self._frontal_since >= params.engage_secs
                    and self._face_recent(now, FRESH_FACE_SECS))
            # words with a face turned to the screen engage at once: someone talking to
            # the kiosk (a passer-by on the phone, turned or far, does not)
            spoken = (self._speaking and self._frontal_since is not None
                      and self._face_recent(now, params.approach_timeout_secs))
            return held or spoken
        return self._speaking  # no camera: the first words engage

    def _engage_reason(self, now: float) -> str:
        if not self.has_camera(now):
            return "speech (no camera)"
        if self._speaking:
            return "speech with a face in view"
        return f"a near frontal face held {self.params.engage_secs:g} s"

    def _move(self, state: PresenceState, now: float, reason: str) -> PresenceChange:
        change = PresenceChange(state=state, previous=self.state, at=now, reason=reason,
                                receding=self.receding())
        self.state = state
        return change


__all__ = ["PresenceChange", "PresenceParams", "PresenceState", "PresenceTracker", "Sighting"]
