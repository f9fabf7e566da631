"""pipecat `FrameSerializer` for wire protocol v1 (see sdk/protocol.py).

The handshake is done by the server before the pipeline exists, so this
serializer starts in the OPEN state with the negotiated input rate. It:
- turns client audio into `InputAudioRawFrame`s at the pipeline's input rate
  (resampling when the client sends another rate);
- turns every protocol violation into an `error` event sent straight back
  (an `OutputTransportMessageUrgentFrame` that flows to the output transport),
  so bad input is answered and dropped while the session keeps going;
- turns `OutputAudioRawFrame`s into binary audio messages whose `pts_us` counts
  the samples sent so far, the clock a video stream will share later;
- sends transport messages whose `type` is a protocol event as JSON text and
  drops every other message (e.g. pipecat's own RTVI chatter).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from loguru import logger
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
)
from pipecat.serializers.base_serializer import FrameSerializer

from pipelines.wire.frames import (
    EncodedMotionFrame,
    EncodedVideoFrame,
    PortraitRequestFrame,
    UserCameraFrame,
    UserMotionFrame,
)
from pipelines.wire.protocol_session import (
    AudioInput,
    CameraJpegInput,
    MotionInput,
    PortraitUpload,
    ProtocolSession,
    RateLimitedError,
)
from sdk.errors import ProtocolError
from sdk.protocol import (
    SERVER_EVENT_TYPES,
    AssetsLoaded,
    ErrorCode,
    Hello,
    KeepalivePong,
    MediaKind,
    Ping,
    Pong,
    SetPortrait,
    SetRender,
    encode_media,
    error_event,
)

#: Shortest interval between two `rate_limited` events of one session (seconds).
RATE_LIMITED_EVENT_SECS = 1.0


class ProtocolV1Serializer(FrameSerializer):
    """Frames <-> protocol v1 messages for one session (one instance per connection)."""

    def __init__(
        self,
        session: ProtocolSession,
        *,
        pipeline_input_rate: int = 16000,
        on_violation: Callable[[ProtocolError], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wrap an already-open `ProtocolSession`.

        Args:
            session: the connection's protocol state (hello already received).
            pipeline_input_rate: the rate VAD/ASR run at; client audio is resampled to it.
            on_violation: called for each protocol error (the server counts/logs them).
            clock: monotonic seconds, for `rate_limited` coalescing (injectable for tests).
        """
        super().__init__()
        self._session = session
        self._pipeline_input_rate = pipeline_input_rate
        self._on_violation = on_violation
        self._clock = clock
        # per dropped unit ("audio chunk", "camera frame", ...): drops since the last
        # `rate_limited` event about it, and when that event was sent
        self._rate_dropped: dict[str, int] = {}
        self._rate_event_at: dict[str, float] = {}
        self.rate_limited_total: dict[str, int] = {}  # every drop of this session, per unit
        self._resampler = create_stream_resampler()
        self._out_samples = 0  # samples sent this session: the pts clock
        self._out_rate = 0
        self._last_video_pts_us: int | None = None
        self.video_sent = 0
        self.video_dropped = 0  # a second image for one pts, not sent
        #: when the client's last message of any kind came, and its keepalive `pong`s
        #: (v2.2): how the server tells a dropped network (pipelines/server/keepalive.py)
        self.last_received_at = clock()
        self.pongs = 0
        #: motion frames sent to a client that draws the face (v2.3)
        self.motion_sent = 0
        #: v2.3: where a client's `assets-loaded` and `set-render` go (the session's render
        #: switch, pipelines/server/render_switch.py), answered with the event it returns;
        #: None: the server draws this session's face
        self.on_render: Callable[[AssetsLoaded | SetRender], dict[str, Any] | None] | None = None

    @property
    def samples_sent(self) -> int:
        """Output audio samples sent so far (the stream clock in samples)."""
        return self._out_samples

    async def serialize(self, frame: Frame) -> str | bytes | None:
        """Audio and avatar video -> binary messages, protocol events -> JSON text,
        anything else -> nothing."""
        if isinstance(frame, EncodedVideoFrame):
            return self._video_message(frame)
        if isinstance(frame, EncodedMotionFrame):
            return self._motion_message(frame)
        if isinstance(frame, OutputAudioRawFrame):
            if not frame.audio:
                return None
            self._out_rate = frame.sample_rate
            pts_us = self._out_samples * 1_000_000 // frame.sample_rate
            self._out_samples += len(frame.audio) // (2 * frame.num_channels)
            return encode_media(MediaKind.AUDIO, frame.audio, pts_us)
        if isinstance(frame, OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
            message = frame.message
            if isinstance(message, dict) and message.get("type") in SERVER_EVENT_TYPES:
                return json.dumps(message, separators=(",", ":"))
            return None
        if isinstance(frame, InterruptionFrame):
            return None  # the `bot-interrupted` event is sent by the event observer
        return None

    def _video_message(self, frame: EncodedVideoFrame) -> bytes | None:
        """A kind-2 message at the audio clock, or None when its 40 ms already has one.

        The frame was queued right before its own audio chunk, so the audio clock
        here is that chunk's start. A frame that comes late is still sent: its
        audio is exactly as late (they share one queue), and the face would freeze
        for nothing. Backpressure from a client that does not read is the
        outbox.s to handle (wire/outbox.py: video gives way first there).
        """
        pts_us = self._face_frame_pts_us()
        if pts_us is None:
            return None
        self.video_sent += 1
        return encode_media(MediaKind.VIDEO, frame.jpeg, pts_us, aux=frame.user_frames)

    def _motion_message(self, frame: EncodedMotionFrame) -> bytes | None:
        """A kind-6 message at the audio clock, as `_video_message` stamps a JPEG (one
        face frame per 40 ms of audio)."""
        pts_us = self._face_frame_pts_us()
        if pts_us is None:
            return None
        self.motion_sent += 1
        return encode_media(MediaKind.FACE_MOTION, frame.payload, pts_us, aux=frame.serial)

    def _face_frame_pts_us(self) -> int | None:
        """The audio clock now, as the pts of the face frame (JPEG or motion) about to
        go out; None, counted in `video_dropped`, when a face frame already went out
        at this pts."""
        pts_us = self._out_samples * 1_000_000 // self._out_rate if self._out_rate else 0
        if self._last_video_pts_us is not None and pts_us <= self._last_video_pts_us:
            # a second face frame for the same 40 ms of audio: the audio chunk the first
            # one came with never went out (pipecat holds a partial chunk back, or
            # dropped it on an interruption). One audio message is one face frame
            # (PROTOCOL.md), so the frame already sent stands for this pts.
            self.video_dropped += 1
            return None
        self._last_video_pts_us = pts_us
        return pts_us

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """Client message -> audio frame, a `pong`, or an `error` event for bad input."""
        self.last_received_at = self._clock()
        try:
            parsed = self._session.receive(data)
        except ProtocolError as error:
            if self._on_violation is not None:
                self._on_violation(error)
            if error.code == ErrorCode.RATE_LIMITED.value:
                coalesced = self._coalesce_rate_limited(error)
                if coalesced is None:
                    return None  # counted; reported in the next event (one a second)
                error = coalesced
            logger.warning(f"protocol violation: {error}")
            event = error_event(error.code, error.detail, fatal=error.fatal)
            return OutputTransportMessageUrgentFrame(message=event.model_dump(exclude_none=True))
        if isinstance(parsed, AudioInput):
            return await self._audio_frame(parsed)
        if isinstance(parsed, KeepalivePong):
            self.pongs += 1
            return None
        if isinstance(parsed, Ping):
            return OutputTransportMessageUrgentFrame(
                message=Pong(id=parsed.id).model_dump(exclude_none=True)
            )
        if isinstance(parsed, CameraJpegInput):
            return UserCameraFrame(jpeg=parsed.jpeg, client_pts_us=parsed.pts_us)
        if isinstance(parsed, MotionInput):
            return UserMotionFrame(motion=parsed.motion, client_pts_us=parsed.pts_us)
        if isinstance(parsed, PortraitUpload):
            return PortraitRequestFrame(upload=parsed.image)
        if isinstance(parsed, SetPortrait):
            return PortraitRequestFrame(portrait_name=parsed.name)
        if isinstance(parsed, AssetsLoaded | SetRender):
            return self._render_message(parsed)
        if isinstance(parsed, Hello):  # cannot happen once open; kept for completeness
            return None
        return None

    def _render_message(self, message: AssetsLoaded | SetRender) -> Frame | None:
        """v2.3: the client loaded its assets or asks for pixels; the event to answer."""
        if self.on_render is None:
            if isinstance(message, SetRender):
                return None  # the server draws this session's face already
            event = error_event(ErrorCode.BAD_RENDER, "assets-loaded in a session whose face "
                                "the server draws (hello.render was not offered or not taken)")
            return OutputTransportMessageUrgentFrame(message=event.model_dump(exclude_none=True))
        answer = self.on_render(message)
        return None if answer is None else OutputTransportMessageUrgentFrame(message=answer)

    def _coalesce_rate_limited(self, error: ProtocolError) -> ProtocolError | None:
        """At most one `rate_limited` event a second per stream, saying how many
        messages were dropped.

        A flooding client has every excess message dropped; one event per message
        (562 in 10 s were seen) would flood the very socket the limit protects.
        The first drop is reported at once; later ones are counted and reported
        by the next event, at least `RATE_LIMITED_EVENT_SECS` after the previous.
        Audio and camera/motion are coalesced apart so a camera flood never hides
        that audio is being dropped too.
        """
        unit = error.unit if isinstance(error, RateLimitedError) else "message"
        self._rate_dropped[unit] = self._rate_dropped.get(unit, 0) + 1
        self.rate_limited_total[unit] = self.rate_limited_total.get(unit, 0) + 1
        now = self._clock()
        last = self._rate_event_at.get(unit)
        if last is not None and now - last < RATE_LIMITED_EVENT_SECS:
            return None
        dropped, self._rate_dropped[unit] = self._rate_dropped[unit], 0
        self._rate_event_at[unit] = now
        noun = unit if dropped == 1 else f"{unit}s"
        return ProtocolError(
            error.code,
            f"{dropped} {noun} dropped since the last rate_limited event: {error.detail}",
            fatal=error.fatal,
        )

    async def _audio_frame(self, audio: AudioInput) -> InputAudioRawFrame | None:
        pcm = audio.pcm
        if audio.sample_rate != self._pipeline_input_rate:
            pcm = await self._resampler.resample(
                pcm, audio.sample_rate, self._pipeline_input_rate
            )
        if not pcm:
            return None
        return InputAudioRawFrame(
            audio=pcm, sample_rate=self._pipeline_input_rate, num_channels=1
        )
