"""Avatar video onto the websocket, in order with its audio (frames: wire/frames.py).

pipecat's websocket transports do not write video (`write_video_frame` is not
implemented) and pace `OutputImageRawFrame`s on a clock of their own, apart
from the audio. A transport message frame, by contrast, travels through the
output transport's audio queue: it is written after the audio queued before it
and dropped with it on an interruption. So `VideoWireAdapter`, one hop before
the transport, turns each `AvatarImageFrame` into an `EncodedVideoFrame` (a
non-urgent transport message); the serializer writes it as a kind-2 message
whose pts is the audio clock at that point, which is the start of the audio
chunk the face service emitted right after the image.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipelines.wire.frames import AvatarImageFrame, EncodedVideoFrame


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
