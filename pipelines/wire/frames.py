"""Every custom pipecat frame of the voice pipeline, in the order they travel.

Speech in (turns/): `SpeechOnsetFrame` (silero's score of one window says
speech may have started, turns/speech_onset.py), `UserPausedFrame` (the first
pause of an utterance, where the speech recogniser starts its guess,
speech/speculative_stt.py), `NoWordsFrame` (whisper heard nothing in an utterance,
speech/stt.py), `ReplyPauseFrame` / `ReplyResumeFrame`
(barge-in holds the reply and lets it play on, turns/barge_in.py).

The face (face/): `UserCameraFrame`, `UserMotionFrame` and `PortraitRequestFrame`
come from the client (wire/serializer.py) to the face service; the service emits
`AvatarImageFrame`s, which wire/video_wire.py re-wraps as `EncodedVideoFrame`s
for the serializer to write behind their audio; over pipecat's SmallWebRTC it
emits `MediaTimedImageFrame`s, which wire/webrtc/output.py hands to a video track
on the audio's clock. While nobody is there its idle audio comes a block at a time
(`QuietBlockAudioFrame`), which our websocket sends as one message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pipecat.frames.frames import (
    DataFrame,
    OutputImageRawFrame,
    OutputTransportMessageFrame,
    SpeechOutputAudioRawFrame,
    SystemFrame,
)


@dataclass
class SpeechOnsetFrame(SystemFrame):
    """Speech may have started (silero's window score), before the VAD commits."""


@dataclass
class UserPausedFrame(SystemFrame):
    """The user went quiet inside their utterance and whisper started transcribing it,
    before the VAD's stop: the face starts giving way to the voice models now."""


@dataclass
class NoWordsFrame(DataFrame):
    """The STT transcribed an utterance to nothing (a cough, a click, a laugh)."""


@dataclass
class ReplyPauseFrame(SystemFrame):
    """The user made a sound over the reply: stop playing it, keep the rest."""


@dataclass
class ReplyResumeFrame(SystemFrame):
    """It was a backchannel or a noise: play the paused reply on."""


@dataclass
class QuietBlockAudioFrame(SpeechOutputAudioRawFrame):
    """A whole block of the face's idle audio while nobody is there (face_clock.py):
    our websocket sends it as one message (wire/ws_transport.py) instead of one per
    40 ms; any other transport cuts it as usual."""


#: the key in a face audio frame's pipecat `metadata` holding the face frame it is the
#: audio of (an image's `AvatarImageFrame.frame_index`): pairs what a transport plays
#: with what it shows, to measure their offset
FRAME_INDEX_METADATA = "avatar_frame_index"


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
    #: the generator's (58,) motion of this frame (what a client that draws needs)
    motion: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


@dataclass
class EncodedVideoFrame(OutputTransportMessageFrame):
    """One JPEG avatar frame queued behind the audio that precedes it."""

    jpeg: bytes = b""
    frame_index: int = 0
    user_frames: int = 0


@dataclass
class EncodedMotionFrame(OutputTransportMessageFrame):
    """One motion frame for a client that draws the face (kind 6), queued behind the
    audio that precedes it, like `EncodedVideoFrame`.

    Parameters:
        payload: the motion frame's float32 values, little-endian.
        serial: the assets it needs (the `assets` event's serial).
    """

    payload: bytes = b""
    serial: int = 1
    frame_index: int = 0


@dataclass
class UserCameraFrame(SystemFrame):
    """A JPEG from the user's camera (client kind 3), on its way to the face service."""

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


@dataclass
class MediaTimedImageFrame(DataFrame):
    """An avatar image for a transport whose video track takes its time from the
    audio (pipelines/wire/webrtc/output.py): it travels in pipecat's audio queue,
    behind the audio before it, and is shown when the audio after it plays. Not an
    `OutputImageRawFrame`, so pipecat neither resizes nor redraws it.

    Parameters:
        rgb: the image, (H, W, 3) uint8.
        frame_index: the avatar session's frame number.
        vp8: the image as the next frame of the session's VP8 stream, encoded where
            the face is drawn (None: the track's sender encodes `rgb`).
    """

    rgb: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.uint8))
    frame_index: int = 0
    vp8: bytes | None = None
    vp8_keyframe: bool = False
