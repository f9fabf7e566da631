"""The layered portrait: a person matte, a clean background plate and matted colours.

Why layers: a single photo warped as one sheet drags whatever lies next to the
head (curtains, flags, walls) along with a turn, and rotates it with a roll.
With layers, made once per portrait when the renderer is built,

- the *matte* says which pixels belong to the person (a selfie-segmentation
  network, refined against the image edges, united with the face itself so a
  missed face can never be left behind);
- the *plate* is the photo with the person inpainted away wherever the head
  can move, so a turn reveals plausible background instead of a hole;
- the *foreground* is the photo's colour with the plate's share removed at
  the soft matte edge (premultiplied: I - (1 - alpha) * plate), so composing
  it back over the plate returns the photo exactly, and a moved head carries
  no fringe of the old background with it.

Each frame then warps only the foreground and its matte (one 4-channel
`cv2.remap`) and composes them over the still plate (`compose`).

The good plate (shift-map inpainting) takes 1.5-3 s, too long to hold up a
session's start or a portrait switch, so the renderer starts with a quick
Telea plate and `PLATES` (a PortraitPlates) makes the shift-map one on a
background thread, one portrait at a time, shared by every renderer of the
same picture; the renderer swaps it in when it is ready.

The segmentation network is mediapipe's selfie segmenter
(`avatar/data/selfie_segmentation.tflite`, Apache-2.0, shipped inside the
mediapipe 0.10.14 wheel on PyPI at mediapipe/modules/selfie_segmentation/,
SHA-256 in SEGMENTER_SHA256); it runs through mediapipe's ImageSegmenter task,
~5 ms once per portrait.

The guided filter and shift-map inpainting come from OpenCV's contrib modules
(`cv2.ximgproc`, `cv2.xphoto`). In someone else's app another OpenCV build may
own the shared `cv2/` folder (pipecat-ai[webrtc] brings opencv-python-headless),
so without them the matte uses a grey-guided filter written with box filters and
the good plate falls back to Telea: a little softer, never a crash
(docs/PACKAGING.md).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SEGMENTER_PATH = Path(__file__).resolve().parents[1] / "data" / "selfie_segmentation.tflite"
SEGMENTER_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
# Guided-filter refinement of the 256x256 network mask: radius in pixels of a
# 512 image and the regulariser (on 0-1 intensities); small enough to follow
# hair strands' edges, large enough not to cut the face along its shading.
GUIDE_RADIUS = 6
GUIDE_EPS = 1e-3
# Pixels with matte above this are inpainted away in the plate (after growing
# the hole by HOLE_GROW px, so no halo of hair survives in the plate) ...
HOLE_ALPHA = 0.04
HOLE_GROW = 2
# ... but the plate takes the fill fully only where the matte reaches
# PLATE_FULL_ALPHA and keeps the photo in proportion below it. A plate that
# differed from the photo all over the soft edge forced that edge (old
# background included) into the foreground, and it travelled with the head as
# a visible ring of the old background.
PLATE_FULL_ALPHA = 0.5
# The plate is filled by OpenCV's shift-map inpainting (xphoto), which copies
# patches of the surrounding background (curtain folds, flag stripes) into the
# hole, at PLATE_WORK px and up-sampled: ~1-3 s once per portrait (~25-90 s at
# 512 px). Telea's diffusion, tried first, filled a head-sized hole with a
# radial smear that showed as a blurred star wherever a turn revealed it.
PLATE_WORK = 192
RIM_RADIUS = 3  # a full-resolution Telea pass this wide hides the up-sampled seam
QUICK_RADIUS = 5  # Telea radius of the quick plate
PLATES_KEPT = 8  # shift-map plates kept per process (the same portrait is often rebuilt)


@dataclass
class PortraitLayers:
    """What the renderer composes every frame; all at the render size."""

    matte: np.ndarray  # (S, S) float32 in [0, 1]: the person
    plate: np.ndarray  # (S, S, 3) uint8: the background with the moving person removed
    source: np.ndarray  # (S, S, 4) uint8: premultiplied foreground RGB + matte * 255


def segment_person(image: np.ndarray, model_path: Path = SEGMENTER_PATH) -> np.ndarray:
    """(H, W) float32 person probability of an RGB uint8 image (mediapipe selfie segmenter)."""
    # mediapipe only here: a heavy ML import (about a second), needed once per portrait
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    digest = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
    if digest != SEGMENTER_SHA256:
        raise RuntimeError(f"{model_path} is not the shipped selfie segmenter "
                           f"(sha256 {digest[:12]}..., expected {SEGMENTER_SHA256[:12]}...)")
    options = vision.ImageSegmenterOptions(
        base_options=BaseOptions(model_asset_path=str(model_path)),
        output_confidence_masks=True, output_category_mask=False)
    with vision.ImageSegmenter.create_from_options(options) as segmenter:
        result = segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB,
                                            data=np.ascontiguousarray(image)))
    mask = np.asarray(result.confidence_masks[0].numpy_view(), np.float32)
    return np.clip(mask.reshape(image.shape[:2]), 0.0, 1.0)


def refine_matte(image: np.ndarray, mask: np.ndarray, must_keep: np.ndarray) -> np.ndarray:
    """The network mask snapped to the image's edges, with `must_keep` (the face) forced in.

    The network sees a 256x256 copy, so its edge is a soft band a few pixels
    wide; a guided filter with the photo as guide moves that band onto the
    actual hair / shoulder edges.
    """
    guide = image.astype(np.float32) / 255.0
    refined = guided_filter(guide, mask.astype(np.float32), GUIDE_RADIUS, GUIDE_EPS)
    refined = np.clip(refined, 0.0, 1.0)
    return np.maximum(refined, must_keep.astype(np.float32))


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter of `src` (float32) by `guide` (float32 RGB in 0..1).

    OpenCV contrib's colour-guided filter where this OpenCV has it; else the
    grey-guided one (He, Sun, Tang 2013, Alg. 1) from box filters."""
    if _has_contrib("ximgproc", "guidedFilter"):
        return np.asarray(cv2.ximgproc.guidedFilter(guide, src, radius, eps))
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)
    window = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.boxFilter(x, -1, window))

    mean_guide, mean_src = mean(grey), mean(src)
    slope = (mean(grey * src) - mean_guide * mean_src) / (mean(grey * grey) - mean_guide ** 2 + eps)
    offset = mean_src - slope * mean_guide
    return mean(slope) * grey + mean(offset)


def quick_plate(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`hole` (bool) filled by OpenCV Telea at PLATE_WORK px (~0.05 s): the stand-in
    until the shift-map plate is ready, a smooth smear of the surrounding colours."""
    size = image.shape[0]
    small, small_hole = _small(image, hole)
    filled = cv2.resize(cv2.inpaint(small, small_hole, QUICK_RADIUS, cv2.INPAINT_TELEA),
                        (size, size), interpolation=cv2.INTER_CUBIC)
    return _finish(image, hole, filled)


def inpaint_plate(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """The image with `hole` (bool) filled from its surroundings; outside the hole, the image.

    Shift-map inpainting (cv2.xphoto) at PLATE_WORK px in Lab, up-sampled into
    the hole, then a thin Telea pass at full size along the hole's edge so the
    plate meets the untouched background without a seam.
    """
    size = image.shape[0]
    small, small_hole = _small(image, hole)
    if not _has_contrib("xphoto", "inpaint"):  # an OpenCV build without contrib owns cv2/
        filled = cv2.inpaint(small, small_hole, QUICK_RADIUS, cv2.INPAINT_TELEA)
        return _finish(image, hole, cv2.resize(filled, (size, size),
                                               interpolation=cv2.INTER_CUBIC))
    known = np.where(small_hole > 0, 0, 255).astype(np.uint8)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab)
    filled_lab = np.zeros_like(lab)
    cv2.xphoto.inpaint(lab, known, filled_lab, cv2.xphoto.INPAINT_SHIFTMAP)
    filled = cv2.resize(cv2.cvtColor(filled_lab, cv2.COLOR_Lab2RGB), (size, size),
                        interpolation=cv2.INTER_CUBIC)
    return _finish(image, hole, filled)


def _has_contrib(module: str, function: str) -> bool:
    """Whether this OpenCV's native module has a contrib function (a plain build
    still has `cv2.ximgproc` as an empty typing package, so the function is checked)."""
    return hasattr(getattr(cv2, module, None), function)


def _small(image: np.ndarray, hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image and its hole (uint8, grown by a pixel) at PLATE_WORK px."""
    small = cv2.resize(image, (PLATE_WORK, PLATE_WORK), interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.uint8) * 255, (PLATE_WORK, PLATE_WORK),
                            interpolation=cv2.INTER_AREA)
    return small, cv2.dilate((small_hole > 0).astype(np.uint8), np.ones((3, 3), np.uint8))


def _finish(image: np.ndarray, hole: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """The photo with the up-sampled fill in its hole and a full-resolution Telea rim."""
    plate = image.copy()
    plate[hole] = filled[hole]
    grow = 2 * RIM_RADIUS + 1
    rim = hole & ~cv2.erode(hole.astype(np.uint8), np.ones((grow, grow), np.uint8)).astype(bool)
    rimmed = cv2.inpaint(plate, rim.astype(np.uint8), RIM_RADIUS, cv2.INPAINT_TELEA)
    plate[rim] = rimmed[rim]
    return plate


#: what a kept plate file depends on besides the picture and its hole (a change to
#: how plates are made changes this, so no older file is taken for a new one)
PLATE_RECIPE = f"w{PLATE_WORK}-r{RIM_RADIUS}-q{QUICK_RADIUS}-v1"
PLATES_ON_DISK = 32  # plate files kept in a folder (the oldest go first)


class PlateFolder:
    """Finished plates kept as lossless PNG files, so a restarted server takes its
    portraits' plates in milliseconds instead of seconds of a core each.

    A file is named by the plate's content key and `PLATE_RECIPE`, and by whether this
    OpenCV has shift-map inpainting (a build without it makes a different plate). A
    file that cannot be read is made again; one that cannot be written is only not
    kept (a read-only home): neither stops a frame."""

    def __init__(self, folder: Path, kept: int = PLATES_ON_DISK) -> None:
        self.folder = Path(folder)
        self.kept = kept

    def path(self, key: bytes) -> Path:
        kind = "shiftmap" if _has_contrib("xphoto", "inpaint") else "telea"
        return self.folder / f"{key.hex()}-{PLATE_RECIPE}-{kind}.png"

    def load(self, key: bytes, shape: tuple[int, ...]) -> np.ndarray | None:
        """The kept plate of `key` (RGB uint8 of `shape`), or None."""
        path = self.path(key)
        if not path.is_file():
            return None
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape != shape:
            return None
        return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def save(self, key: bytes, plate: np.ndarray) -> None:
        """Keep `plate` (written whole or not at all), then drop the oldest files."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            ok, data = cv2.imencode(".png", cv2.cvtColor(plate, cv2.COLOR_RGB2BGR))
            if not ok:
                return
            path = self.path(key)
            partial = path.with_name(f".{path.name}.{threading.get_ident()}.part")
            partial.write_bytes(data.tobytes())
            partial.replace(path)
            files = sorted(self.folder.glob("*.png"), key=lambda f: f.stat().st_mtime)
            for old in files[: max(0, len(files) - self.kept)]:
                old.unlink(missing_ok=True)
        except OSError:
            pass  # not kept: made again at the next start


class PortraitPlates:
    """Shift-map plates made on one background thread, shared by content.

    `request(image, hole)` returns a future of the plate; renderers of the same
    picture (tests, a restarted session, the two render sizes' costs) share it.
    One worker thread: a plate at a time, so it never takes both cores. With
    `keep_in` a folder, finished plates are also kept there and taken from there.
    """

    def __init__(self, kept: int = PLATES_KEPT) -> None:
        self._kept = kept
        self._lock = threading.Lock()
        self._futures: dict[bytes, Future[np.ndarray]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._folder: PlateFolder | None = None

    def keep_in(self, folder: Path | None) -> None:
        """Keep finished plates in `folder` and look there before making one (None:
        in memory only, the default: tests and benches time the making)."""
        self._folder = PlateFolder(folder) if folder is not None else None

    def request(self, image: np.ndarray, hole: np.ndarray) -> Future[np.ndarray]:
        """The (possibly finished) future of the shift-map plate of `image` and `hole`."""
        key = hashlib.sha1(image.tobytes() + np.packbits(hole).tobytes()).digest()
        with self._lock:
            future = self._futures.get(key)
            if future is None or (future.done() and future.exception() is not None):
                future = self._from_folder(key, image.shape) or self._make(key, image, hole)
                self._futures[key] = future
                done = [k for k, f in self._futures.items() if f.done()]
                for old in done[: max(0, len(self._futures) - self._kept)]:
                    del self._futures[old]
            return future

    def _from_folder(self, key: bytes, shape: tuple[int, ...]) -> Future[np.ndarray] | None:
        plate = self._folder.load(key, shape) if self._folder is not None else None
        if plate is None:
            return None
        future: Future[np.ndarray] = Future()
        future.set_result(plate)
        return future

    def _make(self, key: bytes, image: np.ndarray, hole: np.ndarray) -> Future[np.ndarray]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="portrait-plate")
        folder, image, hole = self._folder, image.copy(), hole.copy()

        def make() -> np.ndarray:
            plate = inpaint_plate(image, hole)
            if folder is not None:
                folder.save(key, plate)
            return plate

        return self._executor.submit(make)

    def finished(self) -> dict[bytes, np.ndarray]:
        """The plates made so far, by key: handed to a new face worker process
        (`seed`), so it does not spend seconds of a core making them again."""
        with self._lock:
            futures = dict(self._futures)
        return {key: future.result() for key, future in futures.items()
                if future.done() and future.exception() is None}

    def seed(self, plates: dict[bytes, np.ndarray]) -> None:
        """Take plates made elsewhere (`finished` of another process)."""
        with self._lock:
            for key, plate in plates.items():
                future: Future[np.ndarray] = Future()
                future.set_result(plate)
                self._futures[key] = future

    def clear(self) -> None:
        """Forget finished plates (benchmarks timing the setup of a portrait seen before)."""
        with self._lock:
            self._futures = {k: f for k, f in self._futures.items() if not f.done()}


PLATES = PortraitPlates()


def person_matte(image: np.ndarray, face_hull: np.ndarray, movable: np.ndarray,
                 model_path: Path = SEGMENTER_PATH) -> tuple[np.ndarray, np.ndarray]:
    """(matte, hole) of a square RGB portrait: the refined person matte and the
    pixels (bool) the plate must inpaint.

    `face_hull` (S, S) bool: pixels that are certainly the person (the face
    oval); `movable` (S, S) bool: where the warp can move anything (inside the
    renderer's fixed background ring). The plate is inpainted only where the
    person is and can move away: elsewhere it is the photo.
    """
    matte = refine_matte(image, segment_person(image, model_path), face_hull)
    hole = (matte > HOLE_ALPHA) & movable
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * HOLE_GROW + 1, 2 * HOLE_GROW + 1))
    return matte, cv2.dilate(hole.astype(np.uint8), grow) > 0


def layers_over(image: np.ndarray, matte: np.ndarray, hole: np.ndarray,
                filled: np.ndarray) -> PortraitLayers:
    """The layers of `image` given its matte, the hole and a plate filling the hole."""
    share = np.where(hole, np.clip(matte / PLATE_FULL_ALPHA, 0.0, 1.0), 0.0)[..., None]
    plate = np.round(image + share * (filled.astype(np.float32) - image)).astype(np.uint8)
    img, back = image.astype(np.float32), plate.astype(np.float32)
    # The least alpha that explains the photo over the plate with a foreground
    # colour inside [0, 255] (I = a F + (1 - a) P): where the segmenter's soft
    # edge says less, the photo could not be rebuilt at rest (measured: mean
    # error 1.7 grey levels on the default portrait, its suit against the flag).
    darker = (back - img) / np.maximum(back, 1.0)
    brighter = (img - back) / np.maximum(255.0 - back, 1.0)
    needed = np.clip(np.maximum(darker, brighter).max(axis=2), 0.0, 1.0)
    matte = np.maximum(matte, needed)
    alpha = matte[..., None]
    # premultiplied foreground: whatever of the photo the plate does not explain
    fg = np.clip(img - (1.0 - alpha) * back, 0.0, 255.0 * alpha)
    source = np.concatenate([fg, 255.0 * alpha], axis=2)
    return PortraitLayers(matte=matte, plate=plate,
                          source=np.ascontiguousarray(np.round(source).astype(np.uint8)))


def build_layers(image: np.ndarray, face_hull: np.ndarray, movable: np.ndarray,
                 model_path: Path = SEGMENTER_PATH,
                 fill: Callable[[np.ndarray, np.ndarray], np.ndarray] = inpaint_plate,
                 ) -> PortraitLayers:
    """Matte, plate and premultiplied foreground of a square RGB portrait, at once
    (person_matte, then `fill` for the plate: shift-map by default)."""
    matte, hole = person_matte(image, face_hull, movable, model_path)
    return layers_over(image, matte, hole, fill(image, hole))


def compose(warped: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """RGB frame: a warped premultiplied RGBA foreground over the still plate (uint8)."""
    rgb = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)
    alpha = warped[..., 3]
    inverse = cv2.cvtColor(cv2.bitwise_not(alpha), cv2.COLOR_GRAY2RGB)
    behind = cv2.multiply(plate, inverse, scale=1.0 / 255.0)
    return cv2.add(rgb, behind)
