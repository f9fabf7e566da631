"""A live camera's faces at the cost of one: the landmarker tracks one face, and a face
detector surveys now and then for a second one.

Why: mediapipe's landmarker in video mode runs its face detector on every frame while
it tracks fewer faces than it looks for. Looking for two faces (so that the visitor,
not a bystander, is chosen: `visitor_face`) when only the visitor is there, as at most
kiosks most of the time, costs a detector pass on every analysed frame, about a fifth
of the analysis. Here the landmarker looks for one face, and every `survey_every`
analyses the bundle's detector alone counts the faces. While it sees two or more, the
landmarker looks for two as before; once it sees one again, for one.

Far faces: the landmarker's detector sees the whole frame at 128 px, so a face under
about 0.13 of the frame height is never found in it, and a visitor walking up was
seen only half a second before they were near. Where the whole frame shows no face
but something moved since the last frame (a person walks in), a crop around the
top of what moved, CROP_HEIGHT of the frame high, is analysed as well: a face
1/CROP_HEIGHT times larger to the detector, found from under 0.08 of the frame
height. A far face once found is followed in crops around it until it is near
enough for the whole frame. An empty room moves nothing (sensor noise and slow
light stay under MOTION_LEVEL), so it costs only a thumbnail's comparison more.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import replace

import cv2
import numpy as np

from avatar.face_analysis import FaceAnalyzer, FaceCounter, FaceMeasurement
from avatar.live.facing import bearing
from avatar.motion import column_index, motion_from_measurement

#: Faces looked for while someone else is in view: the visitor and one more (someone
#: beside them, or a passer-by behind), so the nearest face that faces the screen wins.
CAMERA_FACES = 2
#: Analyses between two surveys for a second face: at the camera's 10 analyses a
#: second, a bystander is noticed within half a second.
SURVEY_EVERY = 5
#: A crop around motion is this share of the frame's height, square: a face of 0.10 of
#: the frame is 1/0.6 times larger to the detector there (found from about 0.07).
CROP_HEIGHT = 0.6
#: A face found in a crop, under this share of the frame height, is followed in crops
#: (the whole frame finds faces from about 0.13 on).
FAR_HEIGHT = 0.15
#: Motion: thumbnails (80x60) of two frames differ by more than this many grey levels
#: in a pixel (sensor noise averages to under 1 there, a slow light change to ~1 per
#: half second), ...
MOTION_THUMB = (80, 60)
MOTION_LEVEL = 12.0
#: ... in at least this many pixels (a far head is about 2 x 3 of them) and in at most
#: this share of them (more is the light or the camera's exposure, not a person).
MOTION_MIN_PIXELS = 4
MOTION_MAX_SHARE = 0.5
_YAW, _PITCH, _SCALE = column_index("yaw"), column_index("pitch"), column_index("scale")


@functools.cache
def shared_face_counter() -> FaceCounter:
    """The process's face counter, shared by its sessions' trackers (a survey is a few
    ms, one at a time; a counter each cost a face worker about 4.6 MB a session)."""
    return FaceCounter()


class _CropAnalyzer:
    """An image-mode landmarker for crops, shared by a process's trackers one crop at
    a time (crops are rare: only where something moved and no face was found)."""

    def __init__(self) -> None:
        self._analyzer = FaceAnalyzer(mode="image", num_faces=1)
        self._one_at_a_time = threading.Lock()

    def analyze(self, rgb: np.ndarray) -> FaceMeasurement | None:
        with self._one_at_a_time:
            return self._analyzer.analyze(rgb)


@functools.cache
def shared_crop_analyzer() -> _CropAnalyzer:
    """The process's crop landmarker (built at the first crop)."""
    return _CropAnalyzer()


Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) pixels


def motion_box(thumb: np.ndarray, previous: np.ndarray | None,
               size: tuple[int, int]) -> Box | None:
    """Where in a frame of `size` (width, height) the largest moving thing is, from two
    MOTION_THUMB grey thumbnails; None when nothing moved (or everything did)."""
    if previous is None:
        return None
    moved = (np.abs(thumb - previous) > MOTION_LEVEL).astype(np.uint8)
    count = int(moved.sum())
    if count < MOTION_MIN_PIXELS or count > MOTION_MAX_SHARE * moved.size:
        return None
    moved = cv2.dilate(moved, np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(moved, connectivity=8)
    if n < 2:
        return None
    x, y, w, h, _ = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
    sx, sy = size[0] / thumb.shape[1], size[1] / thumb.shape[0]
    return (int(x * sx), int(y * sy), int((x + w) * sx), int((y + h) * sy))


def crop_around(box: Box, size: tuple[int, int], *, head_at_top: bool) -> Box:
    """The square crop (CROP_HEIGHT of the frame high) that holds the head of what is
    in `box`: its top part when `head_at_top` (a moving body), else its centre (a
    face's own box); kept inside the frame."""
    width, height = size
    side = min(width, height, max(16, round(CROP_HEIGHT * height)))
    cx = (box[0] + box[2]) / 2
    if head_at_top:
        top = box[1] - 0.15 * side
    else:
        top = (box[1] + box[3]) / 2 - side / 2
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(top, 0), height - side)))
    return (x0, y0, x0 + side, y0 + side)


def _thumb(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, MOTION_THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def from_crop(face: FaceMeasurement, crop: Box, size: tuple[int, int]) -> FaceMeasurement:
    """A face measured in `crop`, as the whole frame of `size` would read it: landmarks
    and box moved into the frame, motion measured again there, and its yaw and pitch
    moved from the crop's bearing to the frame's (avatar/live/facing.py; `transform`
    stays the crop's)."""
    x0, y0 = crop[0], crop[1]
    width, height = size
    landmarks = face.landmarks + np.array([x0, y0, 0.0], np.float32)
    motion = motion_from_measurement(landmarks, face.blendshapes, face.transform, width, height)
    side_w, side_h = crop[2] - crop[0], crop[3] - crop[1]
    centre = landmarks[:, :2].mean(axis=0)
    in_crop = bearing((centre[0] - x0) / side_w - 0.5, (centre[1] - y0) / side_h - 0.5,
                      aspect=side_w / side_h)
    in_frame = bearing(centre[0] / width - 0.5, centre[1] / height - 0.5,
                       aspect=width / height)
    motion[_YAW] += in_frame[0] - in_crop[0]
    motion[_PITCH] += in_frame[1] - in_crop[1]
    bbox = (face.bbox[0] + x0, face.bbox[1] + y0, face.bbox[2] + x0, face.bbox[3] + y0)
    return replace(face, landmarks=landmarks, motion=motion, bbox=bbox, image_size=size)


class VisitorTracker:
    """The faces of a live camera's frames, tracked with a one-face landmarker while a
    periodic survey sees one face, with a two-face one while it sees more (not
    thread-safe: one worker)."""

    def __init__(self, survey_every: int = SURVEY_EVERY, *, crops: bool = True) -> None:
        """`crops`: where the whole frame shows no face, look for a far one in a crop
        around motion (False: the whole frame only, as before crops)."""
        if survey_every < 1:
            raise ValueError(f"survey_every must be >= 1, got {survey_every}")
        self.survey_every = survey_every
        self.crops_enabled = crops
        self._counter = shared_face_counter()
        self._analyzer = FaceAnalyzer(mode="video", num_faces=1)
        self._since_survey = survey_every  # the first frame is surveyed
        self._last_ms = -1
        self._tracking = False  # the last analysis found a face
        self._surveyed = 0  # faces the last survey counted
        self._thumb: np.ndarray | None = None  # the last frame's, for motion
        self._far: Box | None = None  # the last face, when found in a crop and far
        #: surveys run, how many of them saw several faces, frames analysed again, and
        #: crops analysed (how many of them found a face)
        self.surveys = 0
        self.crowded_surveys = 0
        self.retries = 0
        self.crops = 0
        self.crop_faces = 0

    @property
    def looking_for(self) -> int:
        """Faces the landmarker looks for now (1, or CAMERA_FACES with others in view)."""
        return self._analyzer.num_faces

    def faces(self, rgb: np.ndarray, timestamp_ms: int) -> list[FaceMeasurement]:
        """Every face the landmarker found in this frame, largest first (`timestamp_ms`
        strictly increasing, as the landmarker's video mode needs)."""
        stamp = max(int(timestamp_ms), self._last_ms + 1)
        if self._since_survey >= self.survey_every:
            self._since_survey = 0
            self._survey(rgb)
        self._since_survey += 1
        if not self.crops_enabled:
            return self._whole_frame(rgb, stamp)
        size = (rgb.shape[1], rgb.shape[0])
        thumb, previous = _thumb(rgb), self._thumb
        self._thumb = thumb
        if self._far is not None and not self._surveyed:
            # a far face, and nobody the whole frame could find: follow it in a crop
            far = self._in_crop(rgb, crop_around(self._far, size, head_at_top=False))
            if far is not None:
                self._last_ms = stamp
                return [far]
        faces = self._whole_frame(rgb, stamp)
        if faces:
            self._far = None
            return faces
        moving = motion_box(thumb, previous, size)
        if moving is not None:
            far = self._in_crop(rgb, crop_around(moving, size, head_at_top=True))
            if far is not None:
                return [far]
        return faces

    def _whole_frame(self, rgb: np.ndarray, stamp: int) -> list[FaceMeasurement]:
        """The landmarker on the whole frame."""
        faces = self._analyzer.analyze_all(rgb, stamp)
        if not faces and self._tracking:
            # the track was lost in this frame (a face that moved far since the last
            # one): mediapipe detects afresh on its next call, so give it this frame
            # again rather than lose it (an empty room is not analysed twice)
            stamp += 1
            faces = self._analyzer.analyze_all(rgb, stamp)
            self.retries += 1
        self._last_ms = stamp
        self._tracking = bool(faces)
        return faces

    def reset(self) -> None:
        """A new visitor or session: survey the next frame, forget the far face."""
        self._since_survey = self.survey_every
        self._far = None
        self._thumb = None

    def _in_crop(self, rgb: np.ndarray, crop: Box) -> FaceMeasurement | None:
        """The face in `crop` of the frame, as the frame reads it (None: none there);
        remembered for the next frame while it is far."""
        self.crops += 1
        left, top, right, bottom = crop
        found = shared_crop_analyzer().analyze(np.ascontiguousarray(rgb[top:bottom, left:right]))
        if found is None:
            self._far = None
            return None
        self.crop_faces += 1
        face = from_crop(found, crop, (rgb.shape[1], rgb.shape[0]))
        x0, y0, x1, y1 = (int(round(v)) for v in face.bbox)
        self._far = (x0, y0, x1, y1) if float(face.motion[_SCALE]) < FAR_HEIGHT else None
        return face

    def close(self) -> None:
        """Free the landmarker (safe twice; the face counter is the process's)."""
        self._analyzer.close()

    def _survey(self, rgb: np.ndarray) -> None:
        found = self._counter.count(rgb)
        self._surveyed = found
        self.surveys += 1
        wanted = CAMERA_FACES if found > 1 else 1
        if found > 1:
            self.crowded_surveys += 1
        if wanted != self._analyzer.num_faces:
            # a fresh landmarker: mediapipe fixes the number of faces when it is built
            previous, self._analyzer = self._analyzer, FaceAnalyzer(mode="video",
                                                                    num_faces=wanted)
            previous.close()


__all__ = ["CAMERA_FACES", "CROP_HEIGHT", "FAR_HEIGHT", "SURVEY_EVERY", "VisitorTracker",
           "crop_around", "from_crop", "motion_box", "shared_crop_analyzer"]
