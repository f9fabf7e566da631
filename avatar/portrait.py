"""Turn any portrait (file or array) into an avatar: a head crop plus its measurements.

The renderer animates a single still image, so everything it needs is fixed here
once: a square crop of the whole head (hair, ears and some neck/shoulders, since
a head turn must move all of them, DESIGN.md), the 478 landmarks of that crop and
the portrait's own reference motion. The reference matters because portraits are
not neutral: one already smiles, another turns a little; motion transferred from
a driver is added to this reference, never written over it (avatar/retarget.py).

Input problems raise errors from avatar/errors.py that say what to fix: not an
image / unreadable file, no face, several faces with none standing out (a group
photo: crop it), or a face too small to animate without blur.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import matplotlib
import numpy as np

from avatar.errors import (
    FaceCutOffError,
    FaceTooSmallError,
    NoDominantFaceError,
    NoFaceError,
    NotAnImageError,
)
from avatar.face_analysis import FaceAnalyzer, FaceMeasurement, as_rgb_uint8

PortraitSize = Literal[256, 512]
PORTRAIT_SIZES: tuple[int, ...] = (256, 512)
DEFAULT_PORTRAIT_NAME = "grace_hopper.jpg"
# Crop side as a multiple of the landmark-box height (forehead to chin): 2.0 keeps
# the hair above, both ears and about 0.4 face-heights of neck below the chin.
HEAD_MARGIN = 2.0
# The crop centre sits this many face-heights above the face-box centre: hair
# above the landmark mesh is taller than the neck we need below it.
HEAD_CENTRE_SHIFT = 0.1
# Below this landmark-box height (source pixels) a 512 crop upsamples more than
# 4x and the rendered face is visibly soft.
MIN_FACE_PX = 64
# A visitor's upload (wire protocol kind 5) must do better: at least this landmark-box
# height in the uploaded image, so the 512 px video's head crop (2 face heights) is
# upsampled at most 2x, and the whole landmark box inside the image. Operators' own
# portraits keep MIN_FACE_PX: they are chosen and checked by a person.
UPLOAD_MIN_FACE_PX = 128
# A second face at least this fraction of the largest one's area makes the choice
# of whom to animate ambiguous (two people side by side): ask for a crop.
RIVAL_FACE_AREA = 0.5
CROP_ADVICE = "crop the photo to one person's head and shoulders"


def default_portrait_path() -> Path:
    """matplotlib's public-domain Grace Hopper photo: always installed, neutral face."""
    path = Path(matplotlib.get_data_path()) / "sample_data" / DEFAULT_PORTRAIT_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"default portrait {DEFAULT_PORTRAIT_NAME} not found in matplotlib's data "
            f"({path.parent}); reinstall matplotlib or pass a portrait explicitly"
        )
    return path


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to (H, W, 3) uint8 RGB; clear errors for bad files.

    Reads bytes and decodes with OpenCV (EXIF orientation applied), which also
    works for non-ASCII paths where cv2.imread silently fails.
    """
    path = Path(path)
    if path.is_dir():
        raise NotAnImageError(f"{path} is a directory, not an image file")
    if not path.is_file():
        raise FileNotFoundError(f"portrait image not found: {path}")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise NotAnImageError(f"cannot read {path}: {error}") from error
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise NotAnImageError(
            f"{path} is not a readable image (expected JPEG, PNG, WebP, BMP, TIFF ...)"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def head_crop_box(
    measurement: FaceMeasurement, margin: float = HEAD_MARGIN
) -> tuple[int, int, int, int]:
    """Square (x0, y0, x1, y1) around the whole head, in source pixels (may overhang)."""
    x0, y0, x1, y1 = measurement.bbox
    face_height = y1 - y0
    side = max(2, int(round(margin * max(face_height, x1 - x0))))
    centre_x = (x0 + x1) / 2.0
    centre_y = (y0 + y1) / 2.0 - HEAD_CENTRE_SHIFT * face_height
    left = int(round(centre_x - side / 2.0))
    top = int(round(centre_y - side / 2.0))
    return left, top, left + side, top + side


def fit_box_inside(box: tuple[int, int, int, int], width: int, height: int,
                   max_shift: float = 0.08) -> tuple[int, int, int, int]:
    """Slide a square crop (by up to `max_shift` of its side) to lie inside the photo.

    A head near the photo's edge then needs no made-up pixels at all, at the
    price of sitting a little off-centre in the crop; only what sliding cannot
    cover (a photo smaller than the crop, a head cut by the frame) is filled.
    """
    x0, y0, x1, y1 = box
    side = x1 - x0
    limit = int(round(max_shift * side))

    def slide(start: int, extent: int) -> int:
        # inside the photo; a photo narrower than the crop: centred on it
        wanted = (extent - side) // 2 if side > extent else min(max(start, 0), extent - side)
        return start + max(-limit, min(limit, wanted - start))

    left, top = slide(x0, width), slide(y0, height)
    return left, top, left + side, top + side


def crop_with_padding(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Crop `box`; parts outside the image are filled with a blurred mirror of it.

    Repeating the edge pixels drew streaks along the frame in every frame; black
    makes a hard edge a head turn drags into view. A mirror continues the texture
    (hair, wall, clothes) and the blur, growing away from the photo's edge, keeps
    mirrored detail (an ear, an eye) from reading as a second face.
    """
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    pad_left, pad_top = max(0, -x0), max(0, -y0)
    pad_right, pad_bottom = max(0, x1 - width), max(0, y1 - height)
    inner = image[max(0, y0):min(height, y1), max(0, x0):min(width, x1)]
    if not (pad_left or pad_top or pad_right or pad_bottom):
        return np.ascontiguousarray(inner)
    mirrored = cv2.copyMakeBorder(inner, pad_top, pad_bottom, pad_left, pad_right,
                                  cv2.BORDER_REFLECT_101)
    side = max(mirrored.shape[:2])
    blurred = cv2.GaussianBlur(mirrored, (0, 0), sigmaX=max(3.0, side / 15))
    # distance (px) outside the photo: 0 inside, growing into the filled band
    outside = np.ones(mirrored.shape[:2], np.uint8)
    outside[pad_top:pad_top + inner.shape[0], pad_left:pad_left + inner.shape[1]] = 0
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, 3)
    weight = np.clip(distance / max(3.0, side / 20), 0.0, 1.0)[..., None]
    filled = mirrored.astype(np.float32) * (1 - weight) + blurred.astype(np.float32) * weight
    return np.ascontiguousarray(filled.round().astype(np.uint8))


def _check_whole_face(face: FaceMeasurement, width: int, height: int, name: str) -> None:
    """Raise FaceCutOffError if the face's landmark box is not inside the image."""
    x0, y0, x1, y1 = face.bbox
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise FaceCutOffError(
            f"the face in {name} runs past the edge of the {width}x{height} image "
            f"(face box {x0:.0f},{y0:.0f} to {x1:.0f},{y1:.0f}); use a photo with the "
            "whole head inside the picture"
        )


def _find_small_face(analyzer: FaceAnalyzer, image: np.ndarray) -> float | None:
    """Height (source px) of a face only visible when zoomed in, else None.

    The landmarker's detector sees a downscaled image and misses faces of a few
    dozen pixels. Looking at overlapping zoomed tiles tells "there is a face but it
    is too small" apart from "there is no face", which need different fixes.
    """
    height, width = image.shape[:2]
    tile = max(64, min(height, width) // 2)
    step = max(1, tile // 2)
    for top in range(0, max(1, height - tile + 1), step):
        for left in range(0, max(1, width - tile + 1), step):
            patch = image[top:top + tile, left:left + tile]
            zoomed = cv2.resize(patch, (512, 512), interpolation=cv2.INTER_CUBIC)
            found = analyzer.analyze(zoomed)
            if found is not None:
                return found.face_height * tile / 512.0
    return None


@dataclass
class Portrait:
    """An avatar identity: a square head crop and what the landmarker measured in it."""

    image: np.ndarray  # (size, size, 3) uint8 RGB head crop
    size: int
    landmarks: np.ndarray  # (478, 3) float32, crop pixels (z in the same scale)
    reference_motion: np.ndarray  # (MOTION_DIM,) float32, the portrait's own motion
    measurement: FaceMeasurement  # of the crop
    crop_box: tuple[int, int, int, int]  # in source pixels, may overhang the source
    source_size: tuple[int, int]  # (width, height) of the source image
    name: str = "portrait"

    @classmethod
    def load(
        cls, source: str | Path | np.ndarray, size: PortraitSize = 512, *,
        min_face_px: int = MIN_FACE_PX, margin: float = HEAD_MARGIN,
        require_whole_face: bool = False,
    ) -> Portrait:
        """Load a portrait from an image file or an (H, W, 3) RGB array.

        `require_whole_face`: refuse a face whose landmark box runs past the image's
        edge (the face landmarker extrapolates a cut face, and the crop pads it with
        a smeared border that the avatar then animates).

        Raises FileNotFoundError, NotAnImageError, NoFaceError, FaceTooSmallError or
        FaceCutOffError with a message saying what to change.
        """
        if size not in PORTRAIT_SIZES:
            raise ValueError(f"portrait size must be one of {PORTRAIT_SIZES}, got {size}")
        if isinstance(source, np.ndarray):
            image, name = as_rgb_uint8(source), "array"
        elif isinstance(source, (str, Path)):
            image, name = read_image(source), Path(source).stem
        else:
            raise NotAnImageError(
                f"a portrait is an image path or an RGB array, got {type(source).__name__}"
            )
        with FaceAnalyzer(mode="image", num_faces=2) as analyzer:
            faces = analyzer.analyze_all(image)
            found = faces[0] if faces else None
            if found is None:
                small = _find_small_face(analyzer, image)
                if small is not None and small < min_face_px:
                    raise FaceTooSmallError(
                        f"the face in {name} is about {small:.0f} px tall; a portrait "
                        f"needs at least {min_face_px} px (use a larger or closer photo)"
                    )
                if small is not None:
                    # big enough, yet invisible to the whole-picture pass: a crowd
                    raise NoDominantFaceError(
                        f"no clear face in the whole of {name} ({image.shape[1]}x"
                        f"{image.shape[0]}): one shows only when zooming into part of it "
                        f"(a group photo, a face in profile, or a person small in a large "
                        f"scene); {CROP_ADVICE}, facing the camera"
                    )
                raise NoFaceError(
                    f"no face found in {name} ({image.shape[1]}x{image.shape[0]}); use a "
                    "photo with one clearly visible, roughly frontal face"
                )
            if len(faces) > 1 and faces[1].area >= RIVAL_FACE_AREA * found.area:
                raise NoDominantFaceError(
                    f"{name} shows several faces of similar size, so which one to animate "
                    f"is unclear; {CROP_ADVICE}"
                )
            if found.face_height < min_face_px:
                raise FaceTooSmallError(
                    f"the face in {name} is {found.face_height:.0f} px tall; a portrait "
                    f"needs at least {min_face_px} px (use a larger or closer photo)"
                )
            if require_whole_face:
                _check_whole_face(found, image.shape[1], image.shape[0], name)
            box = fit_box_inside(head_crop_box(found, margin), image.shape[1], image.shape[0])
            crop = crop_with_padding(image, box)
            interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_CUBIC
            crop = cv2.resize(crop, (size, size), interpolation=interpolation)
            measured = analyzer.analyze(crop)
        if measured is None:
            # The crop only rescales the region around a face found above; losing it
            # means the crop is degenerate, which is a bug rather than bad input.
            raise NoFaceError(f"the face in {name} was lost after cropping to {box}")
        return cls(
            image=crop, size=size, landmarks=measured.landmarks,
            reference_motion=measured.motion.copy(), measurement=measured, crop_box=box,
            source_size=(image.shape[1], image.shape[0]), name=name,
        )

    @classmethod
    def default(cls, size: PortraitSize = 512) -> Portrait:
        """The default avatar (Grace Hopper, see `default_portrait_path`)."""
        return cls.load(default_portrait_path(), size)
