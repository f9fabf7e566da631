"""The live avatar, transport-free: one `AvatarSession` per conversation, the
assets all sessions share (with the background fit of each new portrait's
render calibration), camera analysis and a streaming resampler.

Knows nothing of pipecat: the face service (pipelines/face/video_service.py), the
`converse` command and the benches drive the same session code.
"""

from avatar.live.assets import AvatarAssets, MachineCosts, PortraitLibrary, VideoChoice
from avatar.live.calibrator import CalibrationEvent, FitRecipe, PortraitCalibrator
from avatar.live.camera import CameraMotion
from avatar.live.resample import StreamingResampler
from avatar.live.session import AvatarSession, OpenedBlock
from avatar.live.session_types import AvatarFrame, PlannedFrame, SessionOptions

__all__ = [
    "AvatarAssets",
    "AvatarFrame",
    "AvatarSession",
    "CalibrationEvent",
    "CameraMotion",
    "FitRecipe",
    "MachineCosts",
    "OpenedBlock",
    "PlannedFrame",
    "PortraitCalibrator",
    "PortraitLibrary",
    "SessionOptions",
    "StreamingResampler",
    "VideoChoice",
]
