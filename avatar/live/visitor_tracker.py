"""A live camera's faces at the cost of one: the landmarker tracks one face, and a face
detector surveys now and then for a second one.

Why: mediapipe's landmarker in video mode runs its face detector on every frame while
it tracks fewer faces than it looks for. Looking for two faces (so that the visitor,
not a bystander, is chosen: `visitor_face`) when only the visitor is there, as at most
kiosks most of the time, costs a detector pass on every analysed frame, about a fifth
of the analysis. Here the landmarker looks for one face, and every `survey_every`
analyses the bundle's detector alone counts the faces. While it sees two or more, the
landmarker looks for two as before; once it sees one again, for one.
"""

from __future__ import annotations

import functools

import numpy as np

from avatar.face_analysis import FaceAnalyzer, FaceCounter, FaceMeasurement

#: Faces looked for while someone else is in view: the visitor and one more (someone
#: beside them, or a passer-by behind), so the nearest face that faces the screen wins.
CAMERA_FACES = 2
#: Analyses between two surveys for a second face: at the camera's 10 analyses a
#: second, a bystander is noticed within half a second.
SURVEY_EVERY = 5


@functools.cache
def shared_face_counter() -> FaceCounter:
    """The process's face counter, shared by its sessions' trackers (a survey is a few
    ms, one at a time; a counter each cost a face worker about 4.6 MB a session)."""
    return FaceCounter()


class VisitorTracker:
    """The faces of a live camera's frames, tracked with a one-face landmarker while a
    periodic survey sees one face, with a two-face one while it sees more (not
    thread-safe: one worker)."""

    def __init__(self, survey_every: int = SURVEY_EVERY) -> None:
        if survey_every < 1:
            raise ValueError(f"survey_every must be >= 1, got {survey_every}")
        self.survey_every = survey_every
        self._counter = shared_face_counter()
        self._analyzer = FaceAnalyzer(mode="video", num_faces=1)
        self._since_survey = survey_every  # the first frame is surveyed
        self._last_ms = -1
        self._tracking = False  # the last analysis found a face
        #: surveys run, how many of them saw several faces, and frames analysed again
        self.surveys = 0
        self.crowded_surveys = 0
        self.retries = 0

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
        """A new visitor or session: survey the next frame."""
        self._since_survey = self.survey_every

    def close(self) -> None:
        """Free the landmarker (safe twice; the face counter is the process's)."""
        self._analyzer.close()

    def _survey(self, rgb: np.ndarray) -> None:
        found = self._counter.count(rgb)
        self.surveys += 1
        wanted = CAMERA_FACES if found > 1 else 1
        if found > 1:
            self.crowded_surveys += 1
        if wanted != self._analyzer.num_faces:
            # a fresh landmarker: mediapipe fixes the number of faces when it is built
            previous, self._analyzer = self._analyzer, FaceAnalyzer(mode="video",
                                                                    num_faces=wanted)
            previous.close()


__all__ = ["CAMERA_FACES", "SURVEY_EVERY", "VisitorTracker"]
