"""What every live session of a server shares, prepared once: portraits, the
generator checkpoint, and the measured cost of this machine.

A portrait's analysis takes about a second and the checkpoint a few hundred
milliseconds; sessions would otherwise pay both on every connection. The model
weights are shared read-only (inference only); each session keeps its own KV
cache, renderer and filters.

Machines of one kind differ by about 2x in compute, so the costs that decide
where a session starts (render size, camera-analysis rate) are measured here at
start-up (`MachineCosts.measure`), not assumed. That start is never a ceiling:
a probe taken under load underestimates the machine, so each session's governor
(avatar/live/quality.py) moves its level with the load it meets while it runs,
and the same live measure decides admission (avatar/live/capacity.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from avatar.audio_features import FEATURE_DIM
from avatar.errors import AvatarError, NotAnImageError, UnknownPortraitError
from avatar.face_analysis import FaceAnalyzer
from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.generator.streaming import StreamingGenerator
from avatar.live.calibrator import CalibrationEvent, PortraitCalibrator
from avatar.live.capacity import CapacityBoard, faces_per_worker_for, warm_workers_for
from avatar.live.imaging import NATIVE_SIZES, encode_jpeg, native_size
from avatar.live.quality import FLOOR_CAMERA_FPS, FLOOR_SIZE, QualityLevel, quality_ladder
from avatar.live.video_codec import VideoRequest, Vp8Stream
from avatar.motion import MOTION_DIM
from avatar.portrait import UPLOAD_MIN_FACE_PX, Portrait, default_portrait_path
from avatar.render import PortraitRenderer
from avatar.render.portrait_calibration import calibration_for
from avatar.render.raster import compile_now

if TYPE_CHECKING:
    from avatar.live.face_pool import FaceWorkerPool

_log = logging.getLogger(__name__)

#: Image files a portrait folder may hold.
PORTRAIT_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Name of the built-in portrait (always available).
DEFAULT_PORTRAIT = "grace_hopper"
#: Portraits loaded from image paths kept analysed (the last used), per library.
FILES_KEPT = 8


class PortraitLibrary:
    """The operator's portraits by name: the built-in default plus every image
    in `folder`; each is analysed on first use (or ahead: `prepare`) and cached, as
    are the last FILES_KEPT images loaded by path (thread-safe)."""

    def __init__(self, folder: Path | None = None, default: str = DEFAULT_PORTRAIT) -> None:
        self._paths: dict[str, Path] = {DEFAULT_PORTRAIT: default_portrait_path()}
        if folder is not None:
            folder = Path(folder)
            if not folder.is_dir():
                raise FileNotFoundError(f"portrait folder {folder} does not exist")
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() in PORTRAIT_SUFFIXES:
                    self._paths[path.stem] = path
        if default not in self._paths:
            raise UnknownPortraitError(
                f"default portrait {default!r} is not in the portrait folder "
                f"(has: {', '.join(self.names())})")
        self.default = default
        self._loaded: dict[str, Portrait] = {}
        self._files: OrderedDict[tuple[str, int, int], Portrait] = OrderedDict()
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Every portrait a client may ask for."""
        return sorted(self._paths)

    def get(self, name: str | None = None) -> Portrait:
        """The analysed portrait `name` (the default when None).

        Raises:
            UnknownPortraitError: no portrait of that name.
            NoFaceError, FaceTooSmallError, NotAnImageError: the file is unusable.
        """
        name = name or self.default
        if name not in self._paths:
            raise UnknownPortraitError(
                f"no portrait named {name!r}; available: {', '.join(self.names())}")
        with self._lock:
            if name not in self._loaded:
                portrait = Portrait.load(self._paths[name])
                portrait.name = name
                self._loaded[name] = portrait
            return self._loaded[name]

    def load_file(self, path: Path) -> Portrait:
        """The analysed portrait of an image file, named by its stem; kept by path and
        modification, so showing it again costs no analysis.

        Raises:
            FileNotFoundError: no such file.
            NoFaceError, FaceTooSmallError, NotAnImageError: the file is unusable.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"portrait image {path} does not exist")
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            portrait = self._files.get(key)
            if portrait is None:
                portrait = Portrait.load(path)
                portrait.name = path.stem
                self._files[key] = portrait
                while len(self._files) > FILES_KEPT:
                    self._files.popitem(last=False)
            self._files.move_to_end(key)
            return portrait

    def prepare(self) -> None:
        """Analyse every portrait of the library not analysed yet (at start-up, in the
        background), so a switch to any of them costs no analysis; an unusable file is
        left for `get` to report."""
        for name in self.names():
            try:
                self.get(name)
            except (AvatarError, OSError) as error:
                _log.warning("portrait %r cannot be prepared: %s", name, error)


def portrait_from_upload(data: bytes, name: str = "upload") -> Portrait:
    """Decode and analyse an uploaded JPEG/PNG; raises an `AvatarError` naming the problem."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise NotAnImageError(f"the uploaded portrait ({len(data)} bytes) is not a "
                              "decodable JPEG or PNG image")
    # a visitor's upload is held to a stated bar (docs/PROTOCOL.md, Portraits): the
    # face at least UPLOAD_MIN_FACE_PX tall and wholly inside the image
    portrait = Portrait.load(cv2.cvtColor(image, cv2.COLOR_BGR2RGB),
                             min_face_px=UPLOAD_MIN_FACE_PX, require_whole_face=True)
    portrait.name = name
    return portrait


#: VP8's cost over JPEG's at one size, where the encoder was not measured (this host:
#: 5.6 against 0.9 ms at 512 px, docs/PIPECAT.md).
VP8_OVER_JPEG = 6.0


@dataclass(frozen=True)
class MachineCosts:
    """Milliseconds of one core, measured on this machine at start-up."""

    render_ms: dict[int, float]  # per frame, by native render size
    jpeg_ms: dict[int, float]  # per frame at quality 80, by size
    block_ms: float  # one generator block (5 frames)
    analysis_ms: float  # one 320x240 camera frame through the face landmarker
    #: per frame through the face's own VP8 encoder (WebRTC), by size; empty: not measured
    vp8_ms: dict[int, float] = field(default_factory=dict)

    def block_cost_ms(self, size: int, camera_fps: float, frames: float = 5,
                      codec: str = "jpeg") -> float:
        """CPU per 200 ms block: generator + render and the frame's encoding + camera
        analysis. `codec`: how the face sends its images: "jpeg" (our websocket),
        "vp8" (WebRTC: the face encodes, and VP8 costs several JPEGs) or "raw"
        (a transport that encodes them itself)."""
        native = native_size(size)
        encode = {"jpeg": self.jpeg_ms[native], "raw": 0.0,
                  "vp8": self.vp8_ms.get(native, VP8_OVER_JPEG * self.jpeg_ms[native])}
        if codec not in encode:
            raise ValueError(f"unknown codec {codec!r}: 'jpeg', 'vp8' or 'raw'")
        per_frame = self.render_ms[native] + encode[codec]
        return self.block_ms + frames * per_frame + camera_fps * 0.2 * self.analysis_ms

    @classmethod
    def measure(cls, portrait: Portrait, checkpoint: GeneratorCheckpoint,
                repeats: int = 8) -> MachineCosts:
        """Time each part on the real models (about half a second), the fastest of
        `repeats`, in a thread of its own with one torch thread, as a session runs."""

        def one_thread() -> None:
            torch.set_num_threads(1)  # OpenMP: this worker thread only

        with ThreadPoolExecutor(1, initializer=one_thread) as pool:
            return pool.submit(cls._measure, portrait, checkpoint, repeats).result()

    @classmethod
    def _measure(cls, portrait: Portrait, checkpoint: GeneratorCheckpoint,
                 repeats: int) -> MachineCosts:
        def fastest_ms(run: Iterable[object]) -> float:
            # the fastest repeat: the machine's capacity, not the load of the moment
            # (the LLM loading beside it once made a median read 10x too slow)
            times = []
            for _ in run:
                times.append(time.perf_counter())
            return float(np.min(np.diff(times))) * 1000.0

        render_ms, jpeg_ms, vp8_ms = {}, {}, {}
        motion = portrait.reference_motion
        table = calibration_for(portrait)
        for size in NATIVE_SIZES:
            renderer = PortraitRenderer(portrait, size, calibration=table)
            frame = renderer.render(motion)
            render_ms[size] = fastest_ms(renderer.render(motion) for _ in range(repeats + 1))
            jpeg_ms[size] = fastest_ms(encode_jpeg(frame, 80) for _ in range(repeats + 1))
            vp8_ms[size] = _vp8_ms(frame, repeats)
        engine = StreamingGenerator.from_loaded(checkpoint, motion)
        n = engine.block_frames + engine.cfg.lookahead
        window = (np.zeros((n, FEATURE_DIM), np.float32), np.zeros((n, FEATURE_DIM), np.float32),
                  np.tile(motion, (n, 1)).astype(np.float32))
        assert window[2].shape[1] == MOTION_DIM
        block_ms = fastest_ms(engine.step_window(*window) for _ in range(repeats + 1))
        camera = cv2.resize(portrait.image, (320, 320))[40:280]
        with FaceAnalyzer(mode="video") as analyzer:
            analysis_ms = fastest_ms(analyzer.analyze(camera) for _ in range(repeats + 1))
        return cls(render_ms=render_ms, jpeg_ms=jpeg_ms, block_ms=block_ms,
                   analysis_ms=analysis_ms, vp8_ms=vp8_ms)


def _vp8_ms(frame: np.ndarray, repeats: int) -> float:
    """One inter frame of a session's VP8 stream (the keyframe first, not counted);
    the median, as a moving face's frames cost more than a still one's."""
    stream, request = Vp8Stream(), VideoRequest()
    stream.encode(frame, request)
    times = []
    for index in range(repeats):
        moved = np.roll(frame, index + 1, axis=1)  # a changing image, as a live face is
        started = time.perf_counter()
        stream.encode(moved, request)
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1000.0


@dataclass(frozen=True)
class VideoChoice:
    """Where a session starts on its quality ladder (a starting point, never a
    ceiling: the session's governor climbs back up when there is headroom)."""

    size: int
    camera_fps: float
    block_cost_ms: float  # estimated CPU per 200 ms block
    reason: str
    level: int = 0  # index on `ladder` (0: as requested)
    ladder: tuple[QualityLevel, ...] = ()


def floor_capacity(costs: MachineCosts) -> CapacityBoard:
    """This machine's admission board, priced by the probe's cost of one session at
    the floor level until running sessions measure their own."""
    floor = level_cost_ms(costs, QualityLevel(FLOOR_SIZE, FLOOR_CAMERA_FPS))
    return CapacityBoard(floor / 200.0)


def level_cost_ms(costs: MachineCosts, level: QualityLevel, codec: str = "jpeg") -> float:
    """CPU per 200 ms block at `level` (frames drawn: 5 / draw_stride), its images
    sent as `codec` (`MachineCosts.block_cost_ms`)."""
    return costs.block_cost_ms(level.size, level.camera_fps, frames=5 / level.draw_stride,
                               codec=codec)


def choose_video(costs: MachineCosts, requested_size: int, *, camera: bool,
                 budget_ms: float, codec: str = "jpeg") -> VideoChoice:
    """The best level of the session's quality ladder (every frame drawn) whose
    block cost fits `budget_ms` of one core per 200 ms block; the cheapest such
    level otherwise, its images sent as `codec`. From the start-up probe, so only a
    starting point."""
    ladder = quality_ladder(requested_size, camera=camera)
    drawn = [i for i, level in enumerate(ladder) if level.draw_stride == 1]
    for index in drawn:
        level = ladder[index]
        cost = level_cost_ms(costs, level, codec)
        if cost <= budget_ms:
            why = ("as requested" if index == 0 else
                   f"{requested_size} px would cost {level_cost_ms(costs, ladder[0], codec):.0f} ms a block")
            return VideoChoice(level.size, level.camera_fps, cost,
                               f"{why}; {cost:.0f} of {budget_ms:.0f} ms budget a block",
                               index, tuple(ladder))
    index = drawn[-1]
    level = ladder[index]
    cost = level_cost_ms(costs, level, codec)
    return VideoChoice(level.size, level.camera_fps, cost,
                       f"over budget: {cost:.0f} of {budget_ms:.0f} ms a block even at the "
                       "cheapest setting; a starting point, raised as soon as the machine "
                       "has headroom", index, tuple(ladder))


@dataclass
class AvatarAssets:
    """Everything sessions share; build once per server with `load()`."""

    portraits: PortraitLibrary
    checkpoint: GeneratorCheckpoint
    costs: MachineCosts
    #: CPU a session may spend per 200 ms block (ms of one core): half a core,
    #: so the voice pipeline keeps the other core and a burst never starves audio.
    budget_ms: float = 100.0
    #: fits each shown portrait's own render calibration in the background
    #: (avatar/live/calibrator.py); None: portraits keep the table they have
    calibrator: PortraitCalibrator | None = None
    #: the live sessions' measured load, turned into slots (admission, /healthz)
    capacity: CapacityBoard | None = None
    #: warm face worker processes, one per live session (avatar/live/face_pool.py);
    #: None: sessions run their face in the server's own process
    faces: FaceWorkerPool | None = None

    def __post_init__(self) -> None:
        if self.capacity is None:
            self.capacity = floor_capacity(self.costs)

    @classmethod
    def load(cls, *, portrait_dir: Path | None = None, default_portrait: str = DEFAULT_PORTRAIT,
             checkpoint: Path | None = None, budget_ms: float = 100.0,
             calibrate: bool = False, portraits: PortraitLibrary | None = None,
             generator: GeneratorCheckpoint | None = None,
             on_calibration: Callable[[CalibrationEvent], None] | None = None,
             face_workers: int | None = None, face_worker_sessions: int = 1,
             face_threads: int = 1, faces_per_worker: int = 1,
             batch_steps: bool = True) -> AvatarAssets:
        """Analyse the default portrait, load the generator, measure this machine.

        `calibrate`: start the background calibrator and queue the start-up portrait
        (nothing to fit when it is the built-in default); `on_calibration` hears
        its events (the server logs them). Off unless asked (the server asks, per
        its `calibrate_portraits` setting): tests and benches must not start fits.
        `portraits` and `generator`: already loaded (a face started on them while
        the rest loads), used as they are.

        `face_workers`: run each session's face in a worker process, this many kept
        warm (primed with the default portrait); each serves `face_worker_sessions`
        sessions, then exits; each process draws `faces_per_worker` sessions at once
        (0: chosen from the machine), stepping their generator blocks together when
        `batch_steps` (avatar/live/step_batcher.py). None: faces run in this process."""
        portraits = portraits or PortraitLibrary(portrait_dir, default_portrait)
        ckpt = generator or load_generator(checkpoint or DEFAULT_CHECKPOINT)
        ckpt.model.eval()
        compile_now()  # the renderer's loops: for faces in this process, not their first frame
        costs = MachineCosts.measure(portraits.get(), ckpt)
        capacity = floor_capacity(costs)
        faces = None
        if face_workers is not None:
            from avatar.live.face_pool import FaceWorkerPool  # it imports this module

            # sized by the machine's measured capacity: no more warm workers than the
            # sessions it would admit
            faces = FaceWorkerPool(checkpoint or DEFAULT_CHECKPOINT,
                                   warm=warm_workers_for(face_workers, capacity),
                                   sessions_per_worker=face_worker_sessions,
                                   faces_per_worker=faces_per_worker_for(faces_per_worker,
                                                                         capacity),
                                   threads=face_threads, prime=portraits.get(),
                                   batch_steps=batch_steps)
        calibrator = PortraitCalibrator(on_event=on_calibration) if calibrate else None
        if calibrator is not None:
            calibrator.request(portraits.get())
        return cls(portraits=portraits, checkpoint=ckpt, costs=costs, budget_ms=budget_ms,
                   calibrator=calibrator, capacity=capacity, faces=faces)

    def close(self) -> None:
        """Stop a running background fit and the face workers (server shutdown); safe twice."""
        if self.calibrator is not None:
            self.calibrator.close()
        if self.faces is not None:
            self.faces.close()

    def choose_video(self, requested_size: int, *, camera: bool,
                     codec: str = "jpeg") -> VideoChoice:
        """The render size and camera rate for a new session on this machine, its
        images sent as `codec` ("jpeg", "vp8" or "raw")."""
        return choose_video(self.costs, requested_size, camera=camera, budget_ms=self.budget_ms,
                            codec=codec)
