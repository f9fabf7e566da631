"""The live avatar, transport-free: one `AvatarSession` per conversation, the
assets all sessions share, camera analysis and a streaming resampler.

Knows nothing of pipecat: the pipeline node (pipelines/avatar_node.py), the
`converse` command and the benches drive the same session code.
"""

from avatar.live.assets import AvatarAssets, MachineCosts, PortraitLibrary, VideoChoice
from avatar.live.camera import CameraMotion
from avatar.live.resample import StreamingResampler
from avatar.live.session import AvatarFrame, AvatarSession, PlannedFrame, SessionOptions

__all__ = [
    "AvatarAssets",
    "AvatarFrame",
    "AvatarSession",
    "CameraMotion",
    "MachineCosts",
    "PlannedFrame",
    "PortraitLibrary",
    "SessionOptions",
    "StreamingResampler",
    "VideoChoice",
]
