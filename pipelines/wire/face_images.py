"""The frame that carries a drawn face image to the transport.

Over our media-clock WebRTC tracks (wire/webrtc/output.py) a `MediaTimedImageFrame`
carries the array itself and, when the face's worker encoded it, its VP8 packet:
the track stamps it with its audio's time and sends it once. To any other transport
an `AvatarImageFrame`: pipecat's RGB image, with the JPEG our websocket sends and the
frame's motion (all a client that draws the face needs: its image is then empty).
"""

from __future__ import annotations

from pipecat.frames.frames import Frame

from avatar.live import AvatarFrame
from pipelines.wire.frames import AvatarImageFrame, MediaTimedImageFrame


def face_image_frame(frame: AvatarFrame, media_clock: bool, sync_with_audio: bool) -> Frame:
    """`frame`'s image as the transport takes it (`sync_with_audio`: pipecat's flag,
    for transports whose audio path buffers more than their video path)."""
    if media_clock:
        encoded = frame.video
        return MediaTimedImageFrame(rgb=frame.image, frame_index=frame.index,
                                    vp8=None if encoded is None else encoded.data,
                                    vp8_keyframe=encoded is not None and encoded.keyframe)
    height, width = frame.image.shape[:2]
    image = AvatarImageFrame(
        image=frame.image.tobytes(), size=(width, height), format="RGB",
        jpeg=frame.jpeg or b"", frame_index=frame.index, user_frames=frame.user_frames,
        motion=frame.motion)
    image.sync_with_audio = sync_with_audio
    return image


__all__ = ["face_image_frame"]
