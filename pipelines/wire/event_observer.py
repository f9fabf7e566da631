"""Pipeline frames -> protocol v1 events (`user-started-speaking`, `bot-output`, ...).

An observer sees every frame pushed anywhere in the pipeline without being in
the data path, so it can report the user's turn (decided inside the user
aggregator), the bot's speech (decided by the output transport) and errors
(pushed upstream to the pipeline's source) from one place. It hands events to
`EventSender`, a processor placed right before the output transport, which
pushes them as urgent transport messages: one hop, never queued behind audio.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from loguru import logger
from pipecat.frames.frames import (
    AggregatedTextFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    MetricsFrame,
    OutputTransportMessageUrgentFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import ProcessingMetricsData, TTFBMetricsData
from pipecat.observers.base_observer import BaseObserver, FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pydantic import BaseModel

from sdk.protocol import (
    BotOutput,
    BotTTSText,
    ErrorCode,
    MetricsEvent,
    SimpleEvent,
    UserTranscription,
    error_event,
)


class EventSender(FrameProcessor):
    """Injects protocol events just upstream of the output transport."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Pass everything through unchanged."""
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)

    async def send_event(self, event: BaseModel | dict) -> None:
        """Send one event to the client now (urgent: not queued behind audio)."""
        message = event.model_dump(exclude_none=True) if isinstance(event, BaseModel) else event
        await self.push_frame(OutputTransportMessageUrgentFrame(message=message))


def classify_error(error: str) -> ErrorCode:
    """Map a pipecat error message to a protocol error code."""
    lowered = error.lower()
    if "completion" in lowered or "llm" in lowered or "openai" in lowered:
        return ErrorCode.LLM_UNAVAILABLE
    return ErrorCode.INTERNAL


class ProtocolEventObserver(BaseObserver):
    """Turns the frames a client cares about into protocol events.

    Args:
        sender: where events go (the session's `EventSender`).
        output_transport: the session's output transport; spoken text is reported
            when it leaves the transport, i.e. after its audio was sent.
        send_metrics: also send `metrics` events (ASR/LLM/TTS timings) for benchmarks.
        on_event: optional hook called with every event (the server logs with it).
    """

    def __init__(
        self,
        *,
        sender: EventSender,
        output_transport: FrameProcessor,
        send_metrics: bool = False,
        on_event: Callable[[dict], None] | None = None,
    ) -> None:
        super().__init__(observe_every_push=True)
        self._sender = sender
        self._output = output_transport
        self._send_metrics = send_metrics
        self._on_event = on_event
        self._bot_speaking = False
        self._reply_pending = False  # an LLM reply started and has not finished speaking
        #: `bot-interrupted` was sent for the current reply: one event per interruption,
        #: however many InterruptionFrames the pipeline carries for it
        self._interrupted = False
        #: `bot-tts-text` of a sentence that left the output transport while no reply
        #: audio was flowing: sent once its audio starts (see `on_push_frame`)
        self._pending_tts_text: list[BotTTSText] = []

    async def _emit(self, event: BaseModel | dict) -> None:
        message = event.model_dump(exclude_none=True) if isinstance(event, BaseModel) else event
        if self._on_event is not None:
            self._on_event(message)
        await self._sender.send_event(message)

    async def _flush_tts_text(self) -> None:
        """Send the captions held until their audio started, in order."""
        pending, self._pending_tts_text = self._pending_tts_text, []
        for event in pending:
            await self._emit(event.model_copy(update={"ts": time.time()}))

    async def on_push_frame(self, data: FramePushed) -> None:
        """Report each relevant frame exactly once."""
        frame = data.frame
        if isinstance(frame, TTSTextFrame):
            # Spoken text: report when the output transport passes it on (its audio is out).
            if data.source is self._output and data.direction == FrameDirection.DOWNSTREAM:
                if frame.text.strip():
                    await self._flush_tts_text()  # its caption never comes after it
                    await self._emit(BotOutput(text=frame.text.strip()))
            return
        if isinstance(frame, AggregatedTextFrame) and getattr(frame, "will_be_spoken", False):
            # A sentence's text for live captions. The TTS pushes it before synthesizing
            # it, and the pacer or the face service before it lets it pass while no
            # reply audio is queued, so the first sentence of a reply left the
            # transport 0.25-0.7 s before its audio. While reply audio flows, the
            # transport passes it on right after the audio before it, i.e. right
            # before its own; otherwise it waits for `bot-started-speaking`.
            if data.source is self._output and data.direction == FrameDirection.DOWNSTREAM:
                if frame.text.strip():
                    event = BotTTSText(text=frame.text.strip())
                    if self._bot_speaking:
                        await self._emit(event)
                    else:
                        self._pending_tts_text.append(event)
            return
        if not data.first_push:
            return
        if (
            getattr(frame, "broadcast_sibling_id", None) is not None
            and data.direction != FrameDirection.DOWNSTREAM
        ):
            return  # broadcast frames are pushed both ways: report the downstream copy
        await self._handle(frame)

    async def _handle(self, frame: Frame) -> None:
        if isinstance(frame, UserStartedSpeakingFrame):
            await self._emit(SimpleEvent(type="user-started-speaking"))
        elif isinstance(frame, UserStoppedSpeakingFrame):
            await self._emit(SimpleEvent(type="user-stopped-speaking"))
        elif isinstance(frame, TranscriptionFrame):
            if frame.text.strip():
                await self._emit(UserTranscription(text=frame.text.strip()))
        elif isinstance(frame, InterimTranscriptionFrame):
            if frame.text.strip():  # the utterance so far (pipelines/speech/speculative_stt.py)
                await self._emit(UserTranscription(text=frame.text.strip(), final=False))
        elif isinstance(frame, LLMFullResponseStartFrame):
            self._reply_pending = True
            self._interrupted = False
        elif isinstance(frame, BotStartedSpeakingFrame):
            if not self._bot_speaking:
                self._bot_speaking = True
                self._interrupted = False
                await self._emit(SimpleEvent(type="bot-started-speaking"))
                await self._flush_tts_text()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            if self._bot_speaking:
                self._bot_speaking = False
                self._reply_pending = False
                await self._emit(SimpleEvent(type="bot-stopped-speaking"))
        elif isinstance(frame, InterruptionFrame):
            self._pending_tts_text.clear()  # those sentences will never be spoken
            if (self._bot_speaking or self._reply_pending) and not self._interrupted:
                self._reply_pending = False
                self._interrupted = True
                await self._emit(SimpleEvent(type="bot-interrupted"))
        elif isinstance(frame, ErrorFrame):
            code = classify_error(frame.error)
            logger.warning(f"pipeline error ({code.value}): {frame.error}")
            await self._emit(error_event(code, frame.error, fatal=bool(frame.fatal)))
        elif isinstance(frame, MetricsFrame) and self._send_metrics:
            for item in frame.data:
                if isinstance(item, TTFBMetricsData | ProcessingMetricsData) and item.value > 0:
                    await self._emit(
                        MetricsEvent(
                            kind="ttfb" if isinstance(item, TTFBMetricsData) else "processing",
                            processor=item.processor,
                            value_ms=round(item.value * 1000.0, 1),
                        )
                    )
