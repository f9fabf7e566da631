"""The websocket transport of a protocol session: pipecat's, with 40 ms audio messages.

pipecat's output transport cuts audio into multiples of 10 ms of
`int(rate / 100)` samples. At the voice's 22,050 Hz that is 220 samples, so
its 40 ms message held 880 samples (39.909 ms), while the avatar makes one
video frame per 882 samples (`output_rate // 25`). The two clocks then slid
past each other: a video frame was written before the audio chunk that
happened to be current, up to 878 samples away from its own, and the wire
did not carry the 882-sample, 40 ms messages docs/PROTOCOL.md describes.
Cutting the audio at exactly `rate // 25` samples makes every audio message one
video frame long, so each video message carries the exact start pts of its
frame's audio.

While nobody is there the face's idle audio comes a 200 ms block at a time
(`QuietBlockAudioFrame`, pipelines/face/face_clock.py): it goes out as one message
of five frames' samples, not five (docs/PROTOCOL.md, "Nobody there").

Its client sends through a `SessionOutbox` (pipelines/wire/outbox.py): a client
that stops reading no longer stalls the session, and video gives way first.
"""

from __future__ import annotations

from typing import Any

from fastapi import WebSocket
from loguru import logger
from pipecat.frames.frames import Frame, OutputAudioRawFrame, TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketCallbacks,
    FastAPIWebsocketClient,
    FastAPIWebsocketInputTransport,
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketTransport,
)

from pipelines.wire.frames import QuietBlockAudioFrame
from pipelines.wire.outbox import Message, OutboxLimits, SessionOutbox
from pipelines.wire.reply_trace import ReplyAudioTrace

#: How long a closing session waits for its queued messages to reach the client.
FLUSH_SECS = 1.0

#: Audio messages a second on the wire: one per avatar video frame (25 fps).
AUDIO_MESSAGES_PER_SEC = 25
AUDIO_FRAME_SECS = 1 / AUDIO_MESSAGES_PER_SEC


def frame_samples(sample_rate: int) -> int | None:
    """Samples in one 40 ms audio message at `sample_rate`, None if 40 ms is not whole samples."""
    if sample_rate <= 0 or sample_rate % AUDIO_MESSAGES_PER_SEC:
        return None
    return sample_rate // AUDIO_MESSAGES_PER_SEC


class FrameAlignedOutputTransport(FastAPIWebsocketOutputTransport):
    """pipecat's websocket output, sending audio in messages of exactly 40 ms."""

    #: a debug trace of each reply's first audio messages written (reply_trace.py)
    _trace: ReplyAudioTrace | None = None
    _in_reply = False

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        """pipecat's write (and its pacing), traced where the trace is on."""
        if self._trace is None:
            return await super().write_audio_frame(frame)
        reply = isinstance(frame, TTSAudioRawFrame)
        if reply:
            self._trace.pushed(not self._in_reply, AUDIO_FRAME_SECS)
        self._in_reply = reply
        return await super().write_audio_frame(frame)

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        """Set the chunk to `rate // 25` samples once the rate is known (pipecat's own
        setup picks 4 x int(rate / 100)), and the playback-pacing interval with it."""
        await super().setup(setup)
        self._trace = ReplyAudioTrace.from_env("websocket")
        samples = frame_samples(self.sample_rate)
        if samples is not None:
            self._audio_chunk_size = samples * self._params.audio_out_channels * 2
            # pipecat paces its writes at one chunk's duration (bytes / rate / 2 for
            # mono s16, its own formula): recompute it for the new chunk
            self._send_interval = (self.audio_chunk_size / self.sample_rate) / 2  # type: ignore[assignment]

    async def _handle_frame(self, frame: Frame) -> None:
        """A quiet block of whole 40 ms frames, with nothing else waiting to be cut,
        goes to the wire as one message: pipecat's sender cuts at its chunk size, so
        that size is the block's while the sender takes it (it neither waits nor
        reads the size again before the chunk is queued)."""
        sender = self._media_senders.get(frame.transport_destination)
        chunk = self.audio_chunk_size
        if (not isinstance(frame, QuietBlockAudioFrame) or sender is None or not chunk
                or len(frame.audio) % chunk or frame.sample_rate != self.sample_rate
                or sender._audio_runs):
            await super()._handle_frame(frame)
            return
        sender._audio_chunk_size = len(frame.audio)
        try:
            await super()._handle_frame(frame)
        finally:
            sender._audio_chunk_size = chunk


class OutboxWebsocketClient(FastAPIWebsocketClient):
    """pipecat's websocket client whose `send` queues into a `SessionOutbox`.

    pipecat awaits `send` on the output task that paces audio; here it returns at
    once and the outbox's own task writes to the socket, dropping video first
    when the socket does not drain.
    """

    def __init__(self, websocket: WebSocket, callbacks: FastAPIWebsocketCallbacks,
                 *, limits: OutboxLimits | None = None, ws_close_timeout: float) -> None:
        """The outbox ends the session (as a client disconnect) when it overflows;
        `ws_close_timeout` is the transport's own setting (pipecat's params)."""
        super().__init__(websocket, callbacks, ws_close_timeout=ws_close_timeout)
        self.outbox = SessionOutbox(self._send_now, limits=limits, on_overflow=self._give_up)

    async def send(self, data: str | bytes) -> None:
        """Queue `data` for the socket; never waits for the client."""
        if self._can_send():
            self.outbox.put(data)

    async def _send_now(self, data: Message) -> None:
        """Write one message (pipecat's send: logs and swallows a closed socket)."""
        await super().send(data)

    async def _give_up(self, reason: str) -> None:
        """A client that has not read for tens of seconds is treated as gone."""
        logger.warning(f"closing a session: {reason}")
        await self.outbox.close()
        await self.trigger_client_disconnected()

    async def disconnect(self) -> None:
        """Let queued messages (the last audio, final events) out, then close."""
        await self.outbox.flush(FLUSH_SECS)
        await super().disconnect()
        if not self.is_connected or self.is_closing:
            await self.outbox.close()


class ProtocolWebsocketTransport(FastAPIWebsocketTransport):
    """pipecat's websocket transport with 40 ms audio messages and a bounded outbox."""

    def __init__(self, websocket: WebSocket, params: Any, *,
                 outbox_limits: OutboxLimits | None = None, **kwargs: Any) -> None:
        """Same arguments as pipecat's transport; the client and output differ."""
        super().__init__(websocket, params, **kwargs)
        self._client = OutboxWebsocketClient(
            websocket, self._callbacks, limits=outbox_limits,
            ws_close_timeout=self._params.ws_close_timeout)
        self._input = FastAPIWebsocketInputTransport(
            self, self._client, self._params, name=self._input_name)
        self._output = FrameAlignedOutputTransport(
            self, self._client, self._params, name=self._output_name
        )

    @property
    def outbox(self) -> SessionOutbox:
        """This session's outbox (its `video_dropped` is reported in metrics)."""
        assert isinstance(self._client, OutboxWebsocketClient)
        return self._client.outbox
