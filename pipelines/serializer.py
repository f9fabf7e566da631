"""pipecat `FrameSerializer` for wire protocol v1 (see pipelines/protocol.py).

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
from collections.abc import Callable

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

from pipelines.errors import ProtocolError
from pipelines.protocol import (
    SERVER_EVENT_TYPES,
    AudioInput,
    Hello,
    MediaKind,
    Ping,
    Pong,
    ProtocolSession,
    encode_media,
    error_event,
)


class ProtocolV1Serializer(FrameSerializer):
    """Frames <-> protocol v1 messages for one session (one instance per connection)."""

    def __init__(
        self,
        session: ProtocolSession,
        *,
        pipeline_input_rate: int = 16000,
        on_violation: Callable[[ProtocolError], None] | None = None,
    ) -> None:
        """Wrap an already-open `ProtocolSession`.

        Args:
            session: the connection's protocol state (hello already received).
            pipeline_input_rate: the rate VAD/ASR run at; client audio is resampled to it.
            on_violation: called for each protocol error (the server counts/logs them).
        """
        super().__init__()
        self._session = session
        self._pipeline_input_rate = pipeline_input_rate
        self._on_violation = on_violation
        self._resampler = create_stream_resampler()
        self._out_samples = 0  # samples sent this session: the pts clock
        self._out_rate = 0

    @property
    def samples_sent(self) -> int:
        """Output audio samples sent so far (the stream clock in samples)."""
        return self._out_samples

    async def serialize(self, frame: Frame) -> str | bytes | None:
        """Audio -> binary message, protocol events -> JSON text, anything else -> nothing."""
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

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """Client message -> audio frame, a `pong`, or an `error` event for bad input."""
        try:
            parsed = self._session.receive(data)
        except ProtocolError as error:
            logger.warning(f"protocol violation: {error}")
            if self._on_violation is not None:
                self._on_violation(error)
            event = error_event(error.code, error.detail, fatal=error.fatal)
            return OutputTransportMessageUrgentFrame(message=event.model_dump(exclude_none=True))
        if isinstance(parsed, AudioInput):
            return await self._audio_frame(parsed)
        if isinstance(parsed, Ping):
            return OutputTransportMessageUrgentFrame(
                message=Pong(id=parsed.id).model_dump(exclude_none=True)
            )
        if isinstance(parsed, Hello):  # cannot happen once open; kept for completeness
            return None
        return None

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
