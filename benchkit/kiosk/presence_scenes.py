"""A kiosk camera's view of people coming and going, from a REAL recorded face.

Why here: bench/kiosk/presence.py feeds these scenes to a live session's camera and
tests/avatar/test_presence_scenes.py replays them through the presence tracker
(avatar/live/presence.py), so both judge presence on the same footage.

The person is FGNet's "Talking Face" (`franck` in benchkit/real_media.py: a man
talking throughout, frontal, in front of a blue screen). The blue screen keys out
cleanly, so the whole person (head, hair, shoulders) is composited into the room
of benchkit/browser_media.py at any size and place; the torso is extended
downwards. Sizes are what the landmarker reads: a `Key.height` of 0.30 gives a
measured motion `scale` (face height / frame height) of about 0.30. Faces under
about 0.13 are not found in the whole frame (the landmarker's face detector's floor,
the same with 320, 480 or 640 px frames); the camera's tracker finds them from
about 0.07 in a crop around motion (avatar/live/visitor_tracker.py).

Two things the clips do not hold are made from them:
- a turned head (the clips turn at most ~19 deg): the person layer is warped as if
  the head were a vertical cylinder turning about its axis (`turn`): the near
  cheek widens, the nose moves sideways, the far side is foreshortened. The
  landmarker reads a 50-65 deg warp as a yaw of 35-60 deg (it depends on where
  in the frame the face is; benchkit/kiosk/presence_replay.py's `measure`);
- the back of the head (`turn` >= 90): the head is painted over with a hair
  texture in the clip's hair colour, and the face below it with the neck.

Scenes are lists of `Appearance`s (keyframed people) over an empty room with
sensor noise and a slow light change: a pure function of their arguments (the
noise is seeded), produced lazily (`Scene.frames`) as 640x480 RGB frames, with
their ground truth (`Scene.truth`) computed from the keyframes. What the
landmarker and the presence tracker make of them: benchkit/kiosk/presence_replay.py.

    empty()           an empty room, 60 s
    walk_up()         a visitor walks up (face 6 % -> 30 % in 3 s), talks, leaves
    passers_by()      far, turned, and glancing passers-by; 60 s
    silent_visitor()  walks up, stands silent facing the screen 40 s, leaves
    turn_away()       walks up, turns away for 5 s mid-visit, back, leaves
    far_visitor()     stands across the room (face 10 %) looking, then walks up
    off_centre()      walks up to the frame's edge and stands there, frontal
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from avatar.live.presence import PresenceParams
from benchkit.browser_media import blend_into, room_background

#: Frames a second of the scenes (a kiosk camera sends about this many).
FPS = 10.0
WIDTH, HEIGHT = 640, 480
#: A face at least this high is near enough to greet (the tracker's default).
NEAR_HEIGHT = PresenceParams().near_height
#: A scripted turn up to this counts as facing the screen (the clip's own head
#: turns add up to ~19 deg; the tracker's limit is 25 deg of measured yaw).
FRONTAL_TURN = 15.0
#: A scripted turn from this on shows the back of the head (no face to find).
BACK_TURN = 90.0
#: The clip the people come from (benchkit/real_media.py).
CLIP = "franck"
#: Sensor noise (grey levels, standard deviation) and its bank of fields.
NOISE = 2.0
_NOISE_FIELDS = 6
#: How finely the ground truth samples the keyframes (s).
_TRUTH_STEP = 0.01


# --------------------------------------------------------------------------- script


@dataclass(frozen=True)
class Key:
    """Where a person is at time `t`: face size and place, and how the head is turned."""

    t: float
    height: float  # face height / frame height (the landmarker's `scale`)
    x: float  # face centre, share of the frame width
    y: float  # face centre, share of the frame height
    turn: float = 0.0  # degrees, + towards the viewer's right; >= BACK_TURN: the back


@dataclass(frozen=True)
class Appearance:
    """One person in view from `keys[0].t` to `keys[-1].t`.

    Between keyframes the place and turn move linearly and the size as 1/height,
    i.e. at a constant walking speed towards or away from the camera. The person
    shows the clip from `clip_start` seconds on (mirrored when `mirror`).
    """

    keys: tuple[Key, ...]
    clip_start: float = 0.0
    mirror: bool = False

    def __post_init__(self) -> None:
        if len(self.keys) < 2 or any(b.t <= a.t for a, b in zip(self.keys, self.keys[1:], strict=False)):
            raise ValueError("an appearance needs two or more keyframes in time order")
        if any(k.height <= 0 for k in self.keys):
            raise ValueError("a face height must be positive")

    @property
    def start(self) -> float:
        return self.keys[0].t

    @property
    def end(self) -> float:
        return self.keys[-1].t

    def at(self, t: float) -> Key | None:
        """The person at scene time `t` (None outside the appearance)."""
        if not self.start <= t <= self.end:
            return None
        i = max(0, int(np.searchsorted([k.t for k in self.keys], t, side="right")) - 1)
        a = self.keys[min(i, len(self.keys) - 2)]
        b = self.keys[min(i, len(self.keys) - 2) + 1]
        u = (t - a.t) / (b.t - a.t)
        inverse = (1 - u) / a.height + u / b.height  # distance ~ 1 / height
        return Key(t, 1.0 / inverse, a.x + u * (b.x - a.x), a.y + u * (b.y - a.y),
                   a.turn + u * (b.turn - a.turn))


def face_visible(key: Key) -> float:
    """Share of the face's box (about 0.8 as wide as high) inside the frame."""
    half_h = key.height / 2
    half_w = 0.4 * key.height * HEIGHT / WIDTH
    inside_x = max(0.0, min(1.0, key.x + half_w) - max(0.0, key.x - half_w))
    inside_y = max(0.0, min(1.0, key.y + half_h) - max(0.0, key.y - half_h))
    return inside_x * inside_y / (4 * half_w * half_h)


def shows_face(key: Key | None) -> bool:
    """A face is there to find: most of it in the frame, not the back of the head."""
    return key is not None and abs(key.turn) < BACK_TURN and face_visible(key) >= 0.6


@dataclass(frozen=True)
class SceneTruth:
    """What the keyframes say happens (times in scene seconds)."""

    #: first time a face is near (>= NEAR_HEIGHT) and faces the screen; None: never
    near_frontal_at: float | None
    #: longest stretch a face stays near and frontal (a glance is short)
    near_frontal_secs: float
    #: when the last face left the view (None: no face ever)
    last_face_at: float | None
    #: stretches with no face to see between the first face and the last
    no_face: tuple[tuple[float, float], ...]
    #: what the visitor says aloud: (start, words)
    speech: tuple[tuple[float, str], ...]

    def engages(self, engage_secs: float = 1.0) -> bool:
        """A visitor should engage: near and frontal for `engage_secs` or more."""
        return self.near_frontal_secs >= engage_secs


@dataclass(frozen=True)
class Scene:
    """People in an empty room (see the module docstring); frames come lazily."""

    name: str
    seconds: float
    appearances: tuple[Appearance, ...] = ()
    speech: tuple[tuple[float, str], ...] = ()
    seed: int = 0
    #: relative amplitude of the room's slow light change (a cloud, a lamp)
    light: float = 0.04
    clip: str = CLIP
    cache_dir: Path | None = field(default=None, compare=False)

    def people(self, t: float) -> list[Key]:
        """Everyone in view at `t`."""
        return [key for a in self.appearances if (key := a.at(t)) is not None]

    def times(self, fps: float = FPS) -> np.ndarray:
        """The frame times at `fps` (s)."""
        return np.arange(int(np.floor(self.seconds * fps + 1e-9))) / fps

    def truth(self) -> SceneTruth:
        """The ground truth, from the keyframes sampled every 10 ms."""
        ts = np.arange(0.0, self.seconds + 1e-9, _TRUTH_STEP)
        seen = np.zeros(len(ts), bool)
        near = np.zeros(len(ts), bool)
        for i, t in enumerate(ts):
            for key in self.people(float(t)):
                if shows_face(key):
                    seen[i] = True
                    near[i] |= key.height >= NEAR_HEIGHT and abs(key.turn) <= FRONTAL_TURN
        near_at = float(ts[np.argmax(near)]) if near.any() else None
        longest = max((b - a for a, b in _runs(near)), default=0) * _TRUTH_STEP
        last = None
        no_face: list[tuple[float, float]] = []
        if seen.any():
            first_i, last_i = int(np.argmax(seen)), len(seen) - 1 - int(np.argmax(seen[::-1]))
            last = float(ts[last_i] + _TRUTH_STEP)
            no_face = [(round(float(ts[a]), 2), round(float(ts[b]), 2))
                       for a, b in _runs(~seen[first_i:last_i + 1], offset=first_i)]
        return SceneTruth(None if near_at is None else round(near_at, 2), round(longest, 2),
                          None if last is None else round(last, 2), tuple(no_face), self.speech)

    def frames(self, fps: float = FPS) -> Iterator[tuple[float, np.ndarray]]:
        """(time, (480, 640, 3) uint8 RGB) at `fps`, rendered one at a time."""
        renderer = _Renderer(self)
        try:
            for index, t in enumerate(self.times(fps)):
                yield float(t), renderer.frame(float(t), index)
        finally:
            renderer.close()

    def frame_at(self, t: float) -> np.ndarray:
        """One frame at time `t` (decodes the clip up to there: for contact sheets)."""
        renderer = _Renderer(self)
        try:
            return renderer.frame(t, int(round(t * FPS)))
        finally:
            renderer.close()


def _runs(mask: np.ndarray, offset: int = 0) -> list[tuple[int, int]]:
    """(start, stop) of each run of True values."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a) + offset, int(b) + offset) for a, b in zip(edges[::2], edges[1::2], strict=True)]


# --------------------------------------------------------------------------- scenes

#: Where a visitor's face stands at the kiosk: a little above the frame centre,
#: like a camera above a screen.
STAND_X, STAND_Y = 0.5, 0.42


def _visit(start: float, *, approach: float, stay: float, leave: float, far: float = 0.06,
           near: float = 0.30, clip_start: float = 10.0, turns: tuple[Key, ...] = ()
           ) -> Appearance:
    """A visitor: walks up from the left (`far` -> `near` face height in `approach` s,
    at a constant speed), stays `stay` s (with `turns` keyframes inside the stay, at
    times relative to its start), then turns and walks out to the left in `leave` s."""
    here = start + approach
    keys = [Key(start, far, 0.34, 0.37), Key(here, near, STAND_X, STAND_Y)]
    keys += [Key(here + k.t, near, STAND_X, STAND_Y, k.turn) for k in turns]
    gone = here + stay
    # turns to the left (0.3 of `leave`) and walks out showing the back of the head
    turned = gone + 0.3 * leave
    keys += [Key(gone, near, STAND_X, STAND_Y), Key(turned, 0.95 * near, 0.46, STAND_Y, -60.0),
             Key(turned + 0.01, 0.95 * near, 0.46, STAND_Y, -180.0),
             Key(gone + leave, 0.75 * near, -0.25, 0.40, -180.0)]
    return Appearance(tuple(keys), clip_start=clip_start)


def empty(seconds: float = 60.0, *, seed: int = 0) -> Scene:
    """An empty room: sensor noise and a slow light change, nobody."""
    return Scene("empty", seconds, seed=seed)


def walk_up(*, before: float = 3.0, approach: float = 3.0, talk: float = 12.0,
            leave: float = 1.5, after: float = 25.0,
            question: str | None = "What time do you close today?",
            question_after: float = 5.0, seed: int = 0) -> Scene:
    """Empty `before` s, a visitor walks up (face 6 % -> 30 % of the frame height in
    `approach` s; near, >= 18 %, at 5/6 of it), stays talking `talk` s and asks
    `question` `question_after` s after arriving (room for a greeting first), walks
    out in `leave` s, then the room stays empty `after` s."""
    visitor = _visit(before, approach=approach, stay=talk, leave=leave)
    speech = () if question is None else ((before + approach + question_after, question),)
    return Scene("walk_up", before + approach + talk + leave + after, (visitor,), speech,
                 seed=seed)


def passers_by(seconds: float = 60.0, *, seed: int = 0) -> Scene:
    """People who do not come to the kiosk, each for a few seconds:

    - 4 s: a small face (7 %, across the room) crosses the view, frontal;
    - 13 s: a face at 15 % (seen, not near) crosses frontal in 3.5 s;
    - 22 s: a near face (22 %) walks past left to right in 2 s, looking where it goes;
    - 32 s: the same right to left (mirrored);
    - 42 s: a near face (24 %) walking past glances at the screen for 0.6 s;
    - 50 s: someone across the room (15 %: seen, not near) stands and looks for 6 s.
    Walking past, the head is turned the way the person walks: more so the further
    they are along (the camera sees the cheek, then the ear, then the back of the
    head: a warp of 50 to 65 deg, then the back from 2/3 of the way). The times scale
    with `seconds` (60: as above)."""
    s = seconds / 60.0

    def walk_past(start: float, size: float, y: float, clip_start: float, *,
                  leftwards: bool = False, glance: bool = False) -> Appearance:
        sign, x0, x1 = (-1.0, 1.2, -0.2) if leftwards else (1.0, -0.2, 1.2)
        duration = 2.0 * s + (0.8 if glance else 0.0)

        def x_at(share: float) -> float:
            return x0 + share * (x1 - x0)

        keys = [Key(start, size, x0, y, sign * 50.0)]
        walked = 0.0  # share of the way done
        if glance:  # the head turns to the screen at 40 % of the way, for 0.6 s
            for at, turn in ((0.0, 58.0), (0.1, 0.0), (0.7, 0.0), (0.8, 60.0)):
                share = 0.4 + at / duration
                keys.append(Key(start + share * duration, size, x_at(share), y, sign * turn))
            walked = 0.4 + 0.8 / duration
        back = max(walked + 0.05, 0.6)
        keys += [Key(start + back * duration, size, x_at(back), y, sign * 65.0),
                 Key(start + back * duration + 0.01, size, x_at(back), y, sign * 180.0),
                 Key(start + duration, size, x1, y, sign * 180.0)]
        return Appearance(tuple(keys), clip_start, mirror=leftwards)

    people = (
        Appearance((Key(4 * s, 0.07, -0.08, 0.36), Key(8 * s, 0.07, 1.08, 0.34)), 2.0),
        Appearance((Key(13 * s, 0.15, -0.12, 0.38), Key(16.5 * s, 0.15, 1.12, 0.38)), 8.0),
        walk_past(22 * s, 0.22, 0.42, 14.0),
        walk_past(32 * s, 0.22, 0.40, 18.0, leftwards=True),
        walk_past(42 * s, 0.24, 0.42, 22.0, glance=True),
        Appearance((Key(50 * s, 0.15, 0.75, 0.36), Key(56 * s, 0.15, 0.74, 0.36)), 28.0),
    )
    return Scene("passers_by", seconds, people, seed=seed)


def silent_visitor(*, before: float = 3.0, approach: float = 3.0, stand: float = 40.0,
                   leave: float = 1.5, after: float = 10.0, seed: int = 0) -> Scene:
    """A visitor walks up and stands facing the screen `stand` s without a word,
    then leaves."""
    visitor = _visit(before, approach=approach, stay=stand, leave=leave, clip_start=36.0)
    return Scene("silent_visitor", before + approach + stand + leave + after, (visitor,),
                 seed=seed)


def turn_away(*, before: float = 3.0, approach: float = 3.0, facing: float = 8.0,
              away: float = 5.0, back: float = 6.0, leave: float = 1.5, after: float = 20.0,
              question: str | None = "Where can I leave my coat?",
              question_after: float = 4.0, seed: int = 0) -> Scene:
    """A visitor walks up, faces the screen `facing` s (asking `question`), turns
    round (0.4 s) and shows the back of their head for `away` s (to a friend
    behind them), turns back (0.4 s), faces the screen `back` s, and leaves."""
    turning = 0.4
    turns = (Key(facing, 0, 0, 0, 0.0), Key(facing + turning, 0, 0, 0, 60.0),
             Key(facing + turning + 0.01, 0, 0, 0, 180.0),
             Key(facing + turning + away, 0, 0, 0, 180.0),
             Key(facing + turning + away + 0.01, 0, 0, 0, 60.0),
             Key(facing + 2 * turning + away, 0, 0, 0, 0.0))
    stay = facing + 2 * turning + away + back
    visitor = _visit(before, approach=approach, stay=stay, leave=leave, clip_start=90.0,
                     turns=turns)
    speech = () if question is None else ((before + approach + question_after, question),)
    return Scene("turn_away", before + approach + stay + leave + after, (visitor,), speech,
                 seed=seed)


def far_visitor(*, before: float = 2.0, look: float = 3.0, approach: float = 2.5,
                stay: float = 6.0, leave: float = 1.5, after: float = 3.0,
                far: float = 0.10, seed: int = 0) -> Scene:
    """A visitor walks in across the room (face `far` of the frame height, from the
    left edge to 0.3 of the width in 1 s), stops there and looks at the kiosk
    `look` s, walks up (`far` -> 30 % in `approach` s), stays `stay` s, leaves."""
    start = before + 1.0 + look
    keys = (Key(before, far, -0.05, 0.40), Key(before + 1.0, far, 0.30, 0.40),
            Key(start, far, 0.30, 0.40))
    visit = _visit(start, approach=approach, stay=stay, leave=leave, far=far)
    visitor = Appearance(keys + visit.keys[1:], clip_start=visit.clip_start)
    return Scene("far_visitor", start + approach + stay + leave + after, (visitor,), seed=seed)


def off_centre(*, before: float = 2.0, approach: float = 2.5, stay: float = 8.0,
               leave: float = 1.5, after: float = 3.0, x: float = 0.88, seed: int = 0,
               mirror: bool = False) -> Scene:
    """A visitor walks up to one side of the camera (face centre at `x` of the frame's
    width, 25 % of its height) and stands there looking at the kiosk `stay` s, then
    walks out of that side: a frontal face at the frame's edge (`mirror`: the clip
    mirrored)."""
    here = before + approach
    out = 1.2 if x >= 0.5 else -0.2
    keys = (Key(before, 0.08, x, 0.38), Key(here, 0.25, x, 0.42), Key(here + stay, 0.25, x, 0.42),
            Key(here + stay + 0.3 * leave, 0.24, x, 0.42, 60.0 if x >= 0.5 else -60.0),
            Key(here + stay + 0.3 * leave + 0.01, 0.24, x, 0.42, 180.0),
            Key(here + stay + leave, 0.2, out, 0.42, 180.0))
    return Scene("off_centre", here + stay + leave + after,
                 (Appearance(keys, clip_start=10.0, mirror=mirror),), seed=seed)


#: Every scene by name, with its defaults.
SCENES: dict[str, Callable[..., Scene]] = {
    "empty": empty, "walk_up": walk_up, "passers_by": passers_by,
    "silent_visitor": silent_visitor, "turn_away": turn_away,
    "far_visitor": far_visitor, "off_centre": off_centre,
}


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class ClipGeometry:
    """Where the face sits in the clip (medians over frames spread through it)."""

    path: Path
    size: tuple[int, int]  # (width, height)
    fps: float
    seconds: float
    cx: float  # face box centre, px
    cy: float
    face_w: float  # face box, px
    face_h: float
    face_px: float  # the landmarker's `scale` times the clip height: face height in px
    hair_rgb: tuple[float, float, float]
    skin_rgb: tuple[float, float, float]
    shirt_rgb: tuple[float, float, float]


@functools.cache
def clip_geometry(path: Path) -> ClipGeometry:
    """Measure the clip's face once (the landmarker on 10 frames, image mode)."""
    from avatar.face_analysis import FaceAnalyzer
    from avatar.motion import column_index
    from avatar.video_io import iter_frames, probe_video

    info = probe_video(path)
    every = max(1, int(info.fps * 10))  # a frame every 10 s
    boxes, scales, frames = [], [], []
    with FaceAnalyzer(mode="image", num_faces=1) as analyzer:
        for index, frame in enumerate(iter_frames(path)):
            if index % every:
                continue
            found = analyzer.analyze(frame)
            if found is not None:
                boxes.append(found.bbox)
                scales.append(float(found.motion[column_index("scale")]))
                frames.append(frame)
            if len(boxes) == 10:
                break
    if not boxes:
        raise ValueError(f"no face found in {path}")
    x0, y0, x1, y1 = np.median(np.array(boxes), axis=0)
    height, width = frames[0].shape[:2]
    cx, cy, fw, fh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    first = frames[0].astype(np.float32)
    hair = first[int(max(0, y0 - 0.32 * fh)):int(max(1, y0 - 0.12 * fh)),
                 int(cx - 0.2 * fw):int(cx + 0.2 * fw)].reshape(-1, 3).mean(axis=0)
    skin = first[int(cy - 0.05 * fh):int(cy + 0.1 * fh),
                 int(x0 + 0.1 * fw):int(x0 + 0.25 * fw)].reshape(-1, 3).mean(axis=0)
    bottom = first[height - 8:].reshape(-1, 3)
    columns = np.tile(np.arange(width), 8)
    cloth = ((np.abs(columns - cx) > 0.45 * fw) & (np.abs(columns - cx) < 1.2 * fw)
             & (bottom[:, 2] - np.maximum(bottom[:, 0], bottom[:, 1]) < 30))  # not blue screen
    shirt = bottom[cloth].mean(axis=0) if cloth.any() else bottom.mean(axis=0)
    return ClipGeometry(path, (width, height), info.fps, info.duration_s, float(cx), float(cy),
                        float(fw), float(fh), float(np.median(scales)) * height,
                        _rgb(hair), _rgb(skin), _rgb(shirt))


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    return float(values[0]), float(values[1]), float(values[2])


class _ClipReader:
    """Frames of a clip by time, decoding forwards (reopened to go back or wrap)."""

    def __init__(self, geometry: ClipGeometry) -> None:
        self.geometry = geometry
        self._frames: Iterator[np.ndarray] | None = None
        self._index = -1
        self._frame: np.ndarray | None = None

    def at(self, seconds: float) -> np.ndarray:
        from avatar.video_io import iter_frames

        total = max(1, int(self.geometry.seconds * self.geometry.fps) - 2)
        wanted = int(round(seconds * self.geometry.fps)) % total
        if self._frames is None or wanted < self._index:
            self.close()
            self._frames, self._index = iter_frames(self.geometry.path), -1
        while self._index < wanted:
            self._frame = next(self._frames)
            self._index += 1
        assert self._frame is not None
        return self._frame

    def close(self) -> None:
        if self._frames is not None:
            close = getattr(self._frames, "close", None)  # a generator: its file closes
            if close is not None:
                close()
            self._frames = None


class _Renderer:
    """Renders one scene's frames (a clip reader per appearance, opened when needed)."""

    def __init__(self, scene: Scene) -> None:
        from benchkit.real_media import DEFAULT_CACHE, fetch_media

        self.scene = scene
        self.background = room_background(WIDTH, HEIGHT, scene.seed).astype(np.float32)
        rng = np.random.default_rng((scene.seed, 7))
        self.noise = (rng.normal(0.0, NOISE, (_NOISE_FIELDS, HEIGHT, WIDTH, 1))
                      .astype(np.float32))
        self.readers: dict[int, _ClipReader] = {}
        self.geometry: ClipGeometry | None = None
        if scene.appearances:
            path = fetch_media(scene.cache_dir or DEFAULT_CACHE, [scene.clip])[scene.clip]
            self.geometry = clip_geometry(path)

    def frame(self, t: float, index: int) -> np.ndarray:
        gain = 1.0 + self.scene.light * np.sin(2 * np.pi * t / 23.0)
        out = self.background * np.float32(gain)
        for number, appearance in enumerate(self.scene.appearances):
            key = appearance.at(t)
            if key is None:
                if number in self.readers and t > appearance.end:
                    self.readers.pop(number).close()
                continue
            assert self.geometry is not None
            reader = self.readers.setdefault(number, _ClipReader(self.geometry))
            source = reader.at(appearance.clip_start + t - appearance.start)
            _composite(out, source, self.geometry, key, appearance.mirror,
                       seed=(self.scene.seed, number))
        out += self.noise[index % _NOISE_FIELDS]
        return np.clip(out, 0, 255).astype(np.uint8)

    def close(self) -> None:
        for reader in self.readers.values():
            reader.close()
        self.readers.clear()


def _key_out(rgb: np.ndarray, geometry: ClipGeometry, mirror: bool) -> np.ndarray:
    """(H, W) float32 alpha of the person in a blue-screen frame, despilled in place."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    blue = b - np.maximum(r, g)
    alpha = np.clip((70.0 - blue) / 40.0, 0.0, 1.0)
    np.minimum(b, np.maximum(r, g) + 8.0, out=b)  # no blue fringe
    return alpha * _person_region(geometry, mirror)


@functools.cache
def _person_region(geometry: ClipGeometry, mirror: bool) -> np.ndarray:
    """Where in the clip the person may be: head and shoulders round the face (the
    rest of the blue screen, and the clip's camera at its left edge, stay out)."""
    width, height = geometry.size
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    cx = width - geometry.cx if mirror else geometry.cx
    fw, fh = geometry.face_w, geometry.face_h
    head = ((u - cx) / (0.85 * fw)) ** 2 + ((v - geometry.cy + 0.2 * fh) / (0.95 * fh)) ** 2 <= 1
    body = (v > geometry.cy + 0.3 * fh) & (np.abs(u - cx) < 1.6 * fw)
    region = (head | body).astype(np.float32)
    edge = int(0.07 * width)  # franck: a camera on a stand at the left edge
    if mirror:
        region[:, width - edge:] = 0.0
    else:
        region[:, :edge] = 0.0
    return cv2.GaussianBlur(region, (0, 0), 3.0)


def _cylinder_columns(width: int, cx: float, radius: float, band: float,
                      turn_deg: float) -> np.ndarray:
    """Source column of every output column for a head turned `turn_deg` about a
    vertical axis at `cx`: a cylinder of `radius` (the face) seen from the front,
    with `band` px either side into which what rotates out of view (or into view)
    is squeezed (or stretched), so the map stays continuous."""
    theta = np.deg2rad(np.clip(turn_deg, -75.0, 75.0))
    sign = 1.0 if theta >= 0 else -1.0
    theta = abs(theta)
    x = (np.arange(width, dtype=np.float64) - cx) * sign  # + = the side turned towards
    src = x.copy()
    lead = radius * np.cos(theta)  # output edge of the face on the side turned away from
    inside = (x >= -lead) & (x <= radius)
    src[inside] = radius * np.sin(np.arcsin(np.clip(x[inside] / radius, -1, 1)) - theta)
    # behind: [-radius - band, -lead) shows [-radius - band, -radius) stretched
    back = (x >= -radius - band) & (x < -lead)
    src[back] = -radius - band + (x[back] + radius + band) * band / max(band + radius - lead, 1e-6)
    # front: (radius, radius + band] shows (radius * cos, radius + band] squeezed
    front = (x > radius) & (x <= radius + band)
    src[front] = lead + (x[front] - radius) * (radius + band - lead) / band
    return (src * sign + cx).astype(np.float32)


@functools.cache
def _hair_texture(height: int, width: int, seed: tuple[int, int]) -> np.ndarray:
    """(height, width) float32 shading around 1: low-frequency lumps and fine strands."""
    rng = np.random.default_rng(seed)
    lumps = cv2.resize(rng.normal(0, 1, (6, 5)).astype(np.float32), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    strands = cv2.resize(rng.normal(0, 1, (max(2, height // 12), width)).astype(np.float32),
                         (width, height), interpolation=cv2.INTER_LINEAR)
    return 1.0 + 0.10 * lumps + 0.12 * strands


def _back_of_head(rgb: np.ndarray, alpha: np.ndarray, geometry: ClipGeometry, cx: float,
                  seed: tuple[int, int]) -> None:
    """Paint the back of the head (hair) and neck over the face, in place."""
    height, width = alpha.shape
    fw, fh = geometry.face_w, geometry.face_h
    top, bottom = geometry.cy - 0.5 * fh - 0.42 * fh, geometry.cy + 0.5 * fh - 0.12 * fh
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    ry = (bottom - top) / 2
    radial = ((u - cx) / (0.66 * fw)) ** 2 + ((v - (top + bottom) / 2) / ry) ** 2
    head = cv2.GaussianBlur((radial <= 1).astype(np.float32), (0, 0), 2.0)
    collar = geometry.cy + 0.62 * fh
    neck = ((np.abs(u - cx) < 0.3 * fw) & (v > (top + bottom) / 2)
            & (v < collar)).astype(np.float32)
    neck = cv2.GaussianBlur(neck, (0, 0), 2.0) * (1 - head)
    back = cv2.GaussianBlur(((np.abs(u - cx) < 0.9 * fw) & (v >= collar)).astype(np.float32),
                            (0, 0), 2.0) * (1 - head - neck)
    shade = _hair_texture(height, width, seed) * (1.0 - 0.25 * np.clip(radial, 0, 1))
    hair = np.asarray(geometry.hair_rgb, np.float32) * shade[..., None]
    skin = np.asarray(geometry.skin_rgb, np.float32) * 0.85
    shirt = np.asarray(geometry.shirt_rgb, np.float32)
    rgb *= (1 - head - neck - back)[..., None]
    rgb += head[..., None] * hair + neck[..., None] * skin + back[..., None] * shirt
    np.maximum(alpha, np.maximum(head, neck), out=alpha)


def _composite(out: np.ndarray, source: np.ndarray, geometry: ClipGeometry, key: Key,
               mirror: bool, seed: tuple[int, int]) -> None:
    """Blend one person (a clip frame) into `out` (float32, in place) as `key` says."""
    rgb: np.ndarray = (source[:, ::-1] if mirror else source).astype(np.float32)
    alpha: np.ndarray = _key_out(rgb, geometry, mirror)
    width, height = geometry.size
    cx = width - geometry.cx if mirror else geometry.cx
    if abs(key.turn) >= BACK_TURN:
        _back_of_head(rgb, alpha, geometry, cx, seed)
    elif abs(key.turn) > 0.5:
        columns = _cylinder_columns(width, cx, 0.5 * geometry.face_w, 0.45 * geometry.face_w,
                                    key.turn)
        map_x = np.broadcast_to(columns[None, :], (height, width))
        map_y = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None], (height, width))
        rgb = cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.remap(alpha, map_x, map_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    scale = key.height * HEIGHT / geometry.face_px
    left = key.x * WIDTH - cx * scale
    top = key.y * HEIGHT - geometry.cy * scale
    # the torso goes on below the clip's bottom edge, down to the frame's
    extra = int(np.ceil(max(0.0, (HEIGHT - (top + height * scale)) / scale))) + 2
    rgb = cv2.copyMakeBorder(rgb, 0, extra, 0, 0, cv2.BORDER_REPLICATE)
    alpha = cv2.copyMakeBorder(alpha, 0, extra, 0, 0, cv2.BORDER_REPLICATE)
    if extra > 2:  # a plain shirt below, not the bottom row's stripes drawn out
        rgb[height:] = _plain_below(rgb[height - 1], alpha[height - 1], 0.3 * geometry.face_w,
                                    extra)
    size = (max(1, int(round(width * scale))), max(1, int(round((height + extra) * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = cv2.resize(rgb, size, interpolation=interp)
    alpha = cv2.resize(alpha, size, interpolation=interp)
    blend_into(out, rgb, alpha, int(round(left)), int(round(top)))


def _plain_below(row: np.ndarray, alpha: np.ndarray, sigma: float, rows: int) -> np.ndarray:
    """`rows` rows going from `row` (the clip's last, (W, 3)) to its person-weighted
    horizontal blur over the first 12: the torso, as plain cloth, below the clip."""
    weight = cv2.GaussianBlur(alpha[None, :], (0, 0), sigma)[0][:, None]
    plain = cv2.GaussianBlur((row * alpha[:, None])[None], (0, 0), sigma)[0]
    plain = plain / np.maximum(weight, 1e-3)
    mix = np.clip(np.arange(rows, dtype=np.float32) / 12.0, 0.0, 1.0)[:, None, None]
    return (1 - mix) * row[None] + mix * plain[None]


# --------------------------------------------------------------------------- looking


def contact_sheet(scene: Scene, times: list[float], path: Path, *, columns: int = 4,
                  labels: dict[float, str] | None = None) -> Path:
    """A PNG grid of the scene's frames at `times` (half size), each labelled."""
    tiles = []
    wanted = sorted(times)
    found: dict[float, np.ndarray] = {}
    for t, rgb in scene.frames(FPS):
        for w in wanted:
            if w not in found and abs(t - w) < 0.5 / FPS:
                found[w] = rgb
        if len(found) == len(wanted):
            break
    for w in wanted:
        tile = cv2.resize(found.get(w, np.zeros((HEIGHT, WIDTH, 3), np.uint8)),
                          (WIDTH // 2, HEIGHT // 2), interpolation=cv2.INTER_AREA)
        text = f"{scene.name} {w:.1f}s" + (f" {labels[w]}" if labels and w in labels else "")
        cv2.putText(tile, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3)
        cv2.putText(tile, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    return path


__all__ = ["FPS", "HEIGHT", "NEAR_HEIGHT", "SCENES", "WIDTH", "Appearance", "Key", "Scene",
           "SceneTruth", "contact_sheet", "empty", "far_visitor", "off_centre", "passers_by",
           "silent_visitor", "turn_away", "walk_up"]
