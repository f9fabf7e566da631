"""Avatar video onto the websocket, in order with its audio.

pipecat's websocket transports do not write video (`write_video_frame` is not
implemented) and pace `OutputImageRawFrame`s on a clock of their own, apart
from the audio. A transport message frame, by contrast, travels through the
output transport's audio queue: it is written after the audio queued before it
and dropped with it on an interruption. So `VideoWireAdapter`, one hop before
the transport, turns each `AvatarImageFrame` into an `EncodedVideoFrame` (a
non-urgent transport message); the serializer writes it as a kind-2 message
whose pts is the audio clock at that point, which is the start of the audio
chunk the avatar node emitted right after the image.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import (
    Frame,
    OutputImageRawFrame,
    OutputTransportMessageFrame,
    SystemFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


@dataclass
class AvatarImageFrame(OutputImageRawFrame):
    """An avatar frame: RGB for pipecat consumers, plus the JPEG the wire carries.

    Parameters:
        jpeg: the same image encoded (in the avatar's worker thread).
        frame_index: the avatar session's frame number (pts = index * 40 ms).
    """

    jpeg: bytes = b""
    frame_index: int = 0
    user_frames: int = 0  # user-audio frames heard when it was generated


@dataclass
class EncodedVideoFrame(OutputTransportMessageFrame):
    """One JPEG avatar frame queued behind the audio that precedes it."""

    jpeg: bytes = b""
    frame_index: int = 0
    user_frames: int = 0


@dataclass
class UserCameraFrame(SystemFrame):
    """A JPEG from the user's camera (client kind 3), on its way to the avatar node."""

    jpeg: bytes = b""
    client_pts_us: int = 0


@dataclass
class UserMotionFrame(SystemFrame):
    """The user's motion measured by the client (kind 4); None = no face this frame."""

    motion: tuple[float, ...] | None = None
    client_pts_us: int = 0


@dataclass
class PortraitRequestFrame(SystemFrame):
    """Switch the avatar's portrait: by `portrait_name` (set-portrait) or an `upload` (kind 5)."""

    portrait_name: str | None = None  # (`name` is every Frame's own name)
    upload: bytes | None = None


class VideoWireAdapter(FrameProcessor):
    """`AvatarImageFrame` -> `EncodedVideoFrame`; every other frame passes unchanged."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Re-wrap avatar images so the transport queues them with the audio."""
        await super().process_frame(frame, direction)
        if isinstance(frame, AvatarImageFrame) and direction == FrameDirection.DOWNSTREAM:
            await self.push_frame(EncodedVideoFrame(
                message=None, jpeg=frame.jpeg, frame_index=frame.frame_index,
                user_frames=frame.user_frames))
            return
        await self.push_frame(frame, direction)
