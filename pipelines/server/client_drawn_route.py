"""Our websocket's face in a session its client draws: motion frames, or JPEGs after all.

It sits where `VideoWireAdapter` (pipelines/wire/video_wire.py) sits in a session the
server draws, one hop before the transport, and turns each `AvatarImageFrame` into:

- while the client draws: an `EncodedMotionFrame` (kind 6 on the wire, written behind
  the audio before it, so its pts is its own audio's), preceded by the `assets` event
  of a portrait the client was not given yet (render_switch.py);
- once the server draws (the client asked for pixels, or never loaded its assets): an
  `EncodedVideoFrame`, as in any other session. Frames made before the switch carry
  no image and are left out: the client keeps its last one until the first JPEG.

Every other frame passes unchanged.
"""

from __future__ import annotations

from pipecat.frames.frames import Frame, OutputTransportMessageFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipelines.server.render_switch import RenderSwitch
from pipelines.wire.frames import AvatarImageFrame, EncodedMotionFrame, EncodedVideoFrame


class ClientDrawnRoute(FrameProcessor):
    """`AvatarImageFrame` -> a motion frame or a JPEG, as `switch` says (module docstring)."""

    def __init__(self, switch: RenderSwitch) -> None:
        super().__init__()
        self.switch = switch
        #: frames made while the client drew that reached us after the switch to pixels
        self.imageless = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Route avatar frames (see the module docstring); pass everything else."""
        await super().process_frame(frame, direction)
        if not (isinstance(frame, AvatarImageFrame) and direction == FrameDirection.DOWNSTREAM):
            await self.push_frame(frame, direction)
            return
        if self.switch.client_draws:
            events, motion = self.switch.on_frame(frame.motion)
            for event in events:  # in order with the frames: before the one that needs it
                await self.push_frame(OutputTransportMessageFrame(message=event))
            if motion is not None:
                payload, serial = motion
                await self.push_frame(EncodedMotionFrame(
                    message=None, payload=payload, serial=serial, frame_index=frame.frame_index))
                return
        if frame.jpeg:
            await self.push_frame(EncodedVideoFrame(
                message=None, jpeg=frame.jpeg, frame_index=frame.frame_index,
                user_frames=frame.user_frames))
        else:
            self.imageless += 1


__all__ = ["ClientDrawnRoute"]
