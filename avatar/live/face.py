"""The heavy half of a live avatar: the generator, the renderers and the camera analysis.

`AvatarSession` keeps the light half (queues, the block clock's bookkeeping,
audio features, filters, listening cues) and hands every CPU-heavy step to a
`FaceBackend`: generate a block's motion, draw a frame, measure a camera frame.
Two backends share this one implementation:

- `LocalFace` runs them in the calling thread (tests, offline renders, a
  one-session laptop demo);
- `WorkerFace` (avatar/live/face_pool.py) runs a `LocalFace` in a worker
  process of its own, so the face never competes with the voice pipeline for one
  GIL, its memory goes back to the system when the worker exits, and a crash in
  native code (the renderer, torch, mediapipe) ends only that worker.

Every method here is called from one thread at a time (the session's worker
thread); none is thread-safe on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from avatar.audio_features import FEATURE_DIM
from avatar.generator.checkpoint import GeneratorCheckpoint
from avatar.generator.streaming import StreamingGenerator, Window
from avatar.live.camera import CameraMotion
from avatar.live.imaging import encode_jpeg, native_size
from avatar.live.step_batcher import StepBatcher
from avatar.live.video_codec import EncodedImage, VideoRequest, Vp8Stream
from avatar.portrait import Portrait
from avatar.render import Calibration, PortraitRenderer
from avatar.render.portrait_calibration import portrait_key
from avatar.render.raster import compile_now

#: Renderers a face keeps for later sessions (two portraits at two sizes).
MAX_SPARE_RENDERERS = 4


@dataclass(frozen=True)
class FaceShape:
    """What a session needs to know of its generator to plan blocks."""

    block_frames: int  # frames per generated block (5 = 200 ms)
    lookahead: int  # frames of conditions the generator looks ahead


@dataclass(frozen=True)
class DrawnImage:
    """One drawn frame: RGB at the session's size, its JPEG (or None) and its cost."""

    image: np.ndarray
    jpeg: bytes | None
    #: the drawing's own time (render, resize, JPEG, video) where it ran, ms
    draw_ms: float
    #: the image as one frame of the session's video stream, when one was asked for
    video: EncodedImage | None = None


class FaceBackend(Protocol):
    """The heavy steps of one session's face (see the module docstring)."""

    def start(self, portrait: Portrait, size: int, calibration: Calibration | None,
              seed: int) -> FaceShape:
        """Animate `portrait` from its reference motion (a new identity, or a restart)."""
        ...

    def set_size(self, size: int) -> Calibration:
        """Draw at `size` px from the next frame on; returns the table in use."""
        ...

    def set_calibration(self, calibration: Calibration) -> None:
        """The portrait's own render table landed: use it from the next frame."""
        ...

    def calibration(self) -> Calibration:
        """The render table in use."""
        ...

    def step(self, avatar: np.ndarray, user_audio: np.ndarray, user_motion: np.ndarray,
             present: np.ndarray) -> np.ndarray:
        """The next block's motion (block_frames, 58) from its window of conditions."""
        ...

    def draw(self, motion: np.ndarray, size: int, jpeg_quality: int,
             video: VideoRequest | None = None) -> DrawnImage:
        """Render `motion` as a `size` px RGB frame (and its JPEG when quality > 0, and
        the next frame of the session's VP8 stream when `video` asks)."""
        ...

    def analyze_jpeg(self, data: bytes, timestamp_ms: int) -> np.ndarray | None:
        """The user's face motion (58,) in a JPEG camera frame, or None: no face.

        Raises:
            BadCameraFrameError: the bytes are not a decodable image.
        """
        ...

    def analyze_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        """As `analyze_jpeg`, for a decoded (H, W, 3) RGB frame."""
        ...

    def close(self) -> None:
        """Free what the face holds (safe twice)."""
        ...

    @property
    def steps_batched(self) -> bool:
        """Its generator steps join those of other sessions that fall due with them in
        one pass: the session's clock keeps its block steps on the shared grid
        (avatar/live/step_batcher.py)."""
        ...


class LocalFace:
    """A `FaceBackend` in this process, in the caller's thread.

    `batcher`: shared by the faces of one worker process, it runs the generator
    steps of faces that fall due together as one batched pass
    (avatar/live/step_batcher.py); None: each step runs on its own."""

    def __init__(self, checkpoint: GeneratorCheckpoint, *,
                 batcher: StepBatcher | None = None) -> None:
        self._checkpoint = checkpoint
        self._batcher = batcher
        self._renderers: dict[int, PortraitRenderer] = {}
        self._renderer: PortraitRenderer | None = None
        self._portrait: Portrait | None = None
        self._engine: StreamingGenerator | None = None
        self._camera: CameraMotion | None = None
        self._video: Vp8Stream | None = None  # the session's VP8 stream (WebRTC)
        #: renderers built ahead of a session (`prime`), by portrait key and size
        self._spares: dict[tuple[str, int], PortraitRenderer] = {}

    def prime(self, portrait: Portrait, sizes: tuple[int, ...] = (512, 256)) -> None:
        """Do a session's first-time work before one arrives (a warm worker): compile
        (or load from numba's disk cache) the renderer's loops, build `portrait`'s
        renderers and its background plate, draw, generate and analyse once (the
        first call of each pays for lazy set-up), and keep the renderers for the
        first session that shows this portrait. The drawing at rest leaves the
        mouth and iris passes uncompiled (a closed mouth, eyes ahead): 1.7 s of the
        first session's first frame on a fresh install, without `compile_now`."""
        compile_now()
        self.prime_renderers(portrait, sizes)
        self.start(portrait, max(sizes), None, 0)
        self._spares.update({(portrait_key(portrait), r.size): r
                             for r in self._renderers.values()})
        n = self._engine.block_frames + self._engine.cfg.lookahead if self._engine else 0
        motion = np.tile(portrait.reference_motion, (n, 1)).astype(np.float32)
        self.step(np.zeros((n, FEATURE_DIM), np.float32), np.zeros((n, FEATURE_DIM), np.float32),
                  motion, np.zeros(n, bool))
        camera = self._camera_motion()
        camera.analyze_rgb(cv2.resize(portrait.image, (320, 320)), 0)
        camera.reset()
        self._engine = self._renderer = None
        self._renderers = {}
        if self._batcher is not None:
            self._batcher.leave(self)

    def prime_renderers(self, portrait: Portrait, sizes: tuple[int, ...] = (512, 256)) -> None:
        """Build `portrait`'s renderers at `sizes` ahead of a session and keep them for
        the first session that shows it (another face in this process did the
        first-call set-up already)."""
        for size in sizes:
            renderer = PortraitRenderer(portrait, native_size(size))
            # the shift-map plate (seconds of a core, unless seeded: `PLATES.seed`)
            renderer.plate_ready.wait(60.0)
            renderer.render(portrait.reference_motion)
            self._spares[(portrait_key(portrait), renderer.size)] = renderer

    def start(self, portrait: Portrait, size: int, calibration: Calibration | None,
              seed: int) -> FaceShape:
        if self._portrait is not None:  # the last session's renderers serve the next one
            key = portrait_key(self._portrait)
            for renderer in self._renderers.values():
                self._spares.pop((key, renderer.size), None)
                self._spares[(key, renderer.size)] = renderer
            while len(self._spares) > MAX_SPARE_RENDERERS:  # the oldest go first
                del self._spares[next(iter(self._spares))]
        native = native_size(size)
        spare = self._spares.pop((portrait_key(portrait), native), None)
        if spare is None:
            renderer = PortraitRenderer(portrait, native, calibration=calibration)
        else:
            renderer = spare
        if spare is not None and calibration is not None:
            renderer.set_calibration(calibration)
        if self._camera is not None:
            self._camera.reset()  # a new session on a warm landmarker
        self._video = None  # a new session's video stream starts with a keyframe
        if self._batcher is not None:  # a new session's steps keep times of their own
            self._batcher.leave(self)
        self._engine = StreamingGenerator.from_loaded(self._checkpoint,
                                                      portrait.reference_motion, seed=seed)
        self._portrait = portrait
        self._renderer = renderer
        self._renderers = {renderer.size: renderer}
        return FaceShape(self._engine.block_frames, self._engine.cfg.lookahead)

    def set_size(self, size: int) -> Calibration:
        """A renderer per native size is built once and kept, so stepping back and
        forth costs one renderer build."""
        current = self._started_renderer()
        native = native_size(size)
        renderer = self._renderers.get(native)
        assert self._portrait is not None
        if renderer is None:
            renderer = self._spares.pop((portrait_key(self._portrait), native), None)
        if renderer is None:
            renderer = PortraitRenderer(self._portrait, native, calibration=current.calibration)
            self._renderers[native] = renderer
        elif renderer.calibration is not current.calibration:
            renderer.set_calibration(current.calibration)  # the portrait's own table landed
        self._renderer = renderer
        return renderer.calibration

    def set_calibration(self, calibration: Calibration) -> None:
        self._started_renderer().set_calibration(calibration)

    def calibration(self) -> Calibration:
        return self._started_renderer().calibration

    def step(self, avatar: np.ndarray, user_audio: np.ndarray, user_motion: np.ndarray,
             present: np.ndarray) -> np.ndarray:
        if self._engine is None:
            raise RuntimeError("the face has no portrait yet: call start() first")
        if self._batcher is None:
            return self._engine.step_window(avatar, user_audio, user_motion, present)
        return self._batcher.step(self, self._engine,
                                  Window(avatar, user_audio, user_motion, present))

    def draw(self, motion: np.ndarray, size: int, jpeg_quality: int,
             video: VideoRequest | None = None) -> DrawnImage:
        started = time.perf_counter()
        image = self._started_renderer().render(motion)
        if image.shape[0] != size:
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        jpeg = encode_jpeg(image, jpeg_quality) if jpeg_quality else None
        encoded = None
        if video is not None:
            self._video = self._video or Vp8Stream()
            encoded = self._video.encode(image, video)
        return DrawnImage(image, jpeg, (time.perf_counter() - started) * 1000.0, encoded)

    def analyze_jpeg(self, data: bytes, timestamp_ms: int) -> np.ndarray | None:
        return self._camera_motion().analyze_jpeg(data, timestamp_ms)

    def analyze_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        return self._camera_motion().analyze_rgb(rgb, timestamp_ms)

    def _camera_motion(self) -> CameraMotion:
        if self._camera is None:  # mediapipe's landmarker: built on the first frame
            self._camera = CameraMotion()
        return self._camera

    def close(self) -> None:
        if self._camera is not None:
            camera, self._camera = self._camera, None
            camera.close()
        self._renderers.clear()
        self._spares.clear()
        self._renderer = None
        self._engine = None
        if self._batcher is not None:
            self._batcher.leave(self)

    @property
    def steps_batched(self) -> bool:
        return self._batcher is not None

    def _started_renderer(self) -> PortraitRenderer:
        if self._renderer is None:
            raise RuntimeError("the face has no portrait yet: call start() first")
        return self._renderer


__all__ = ["DrawnImage", "FaceBackend", "FaceShape", "LocalFace"]
