"""Errors raised by the face side of avatar-forcing, each naming what is wrong.

Every class also derives from the built-in exception that fits it, so callers
that only know `ValueError` / `FileNotFoundError` (the CLI prints those as one
clean line) handle them without importing this module::

    AvatarError(Exception)
    ├── NotAnImageError(AvatarError, ValueError)     unreadable / not an image
    ├── NotAVideoError(AvatarError, ValueError)      unreadable / no video stream
    ├── NoFaceError(AvatarError, ValueError)         the landmarker found no face
    │   └── NoDominantFaceError                       several faces, none stands out
    ├── FaceTooSmallError(AvatarError, ValueError)   a face, but too few pixels
    ├── FaceCutOffError(AvatarError, ValueError)     the face runs past the image edge
    ├── UnknownPortraitError(AvatarError, KeyError)  no portrait of that name
    ├── BadCameraFrameError(AvatarError, ValueError) a camera frame is not a decodable image
    └── MissingLandmarkerModelError(AvatarError, FileNotFoundError)
                                                     the face landmarker's model is absent
"""

from __future__ import annotations


class AvatarError(Exception):
    """Base class of every error raised on purpose by `avatar`."""


class NotAnImageError(AvatarError, ValueError):
    """The input is not a decodable image (wrong file type, corrupt, bad array)."""


class NotAVideoError(AvatarError, ValueError):
    """The input cannot be decoded as a video (no video stream, corrupt container)."""


class NoFaceError(AvatarError, ValueError):
    """The face landmarker found no face where one is required."""


class NoDominantFaceError(NoFaceError):
    """Several faces (a group photo), or a face only found in a zoomed part: which
    one to animate is ambiguous, and the fix is a crop, not a larger photo."""


class FaceTooSmallError(AvatarError, ValueError):
    """A face was found but it is too small to animate without visible blur."""


class FaceCutOffError(AvatarError, ValueError):
    """The portrait's face runs past the image's edge (part of the head is missing)."""


class UnknownPortraitError(AvatarError, KeyError):
    """No portrait of the requested name in the operator's portrait folder."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else "unknown portrait"


class BadCameraFrameError(AvatarError, ValueError):
    """A live camera frame could not be decoded (not a JPEG, truncated, empty)."""


class MissingLandmarkerModelError(AvatarError, FileNotFoundError):
    """The face landmarker's model, which ships inside an installed package, cannot be found
    (the agent's speech and LLM models raise `agent.errors.MissingModelError`)."""


class FaceWorkerLost(AvatarError, RuntimeError):
    """A session's face worker process died or stopped answering (a crash in native
    code, a kill, a hang): the session takes a fresh worker."""


class FaceWorkerFailed(AvatarError, RuntimeError):
    """An unexpected exception inside a face worker process (its traceback is in the
    message): the worker is replaced, as for a crash."""
