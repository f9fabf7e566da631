"""Per-turn stage times of the voice pipeline, read by a pipecat observer.

Why here: it is a library part of bench/voice/voice_latency.py (a turn's 1.5 s split into
the parts that can be attacked), kept out of the script so the script is its figure.
"""

from __future__ import annotations

import time
from typing import Any


class StageTimeline:
    """Per-turn stage times on this process's clock (server and client share it).

    An observer added to every session (`ServerConfig.on_session`) notes when each
    stage first acts: whisper's first run starting and ending (at the first pause,
    the guess of pipelines/speech/speculative_stt.py), the VAD's stop, the transcript,
    the end of the turn, the LLM's request (the user aggregator's context) and first
    text, the first text and audio of the TTS, and the first reply audio handed to
    the transport. `stages()`
    gives them in ms after the user's speech ended, so a turn's 1.5 s is split
    into the parts that can be attacked.
    """

    def __init__(self) -> None:
        self.marks: list[tuple[float, str]] = []
        #: called in whisper's thread as each run starts and ends ("asr_start" /
        #: "asr_done"): a bench may note what else ran meanwhile (None: nothing)
        self.read_hook: Any = None

    def observer(self, session: Any) -> Any:
        """A fresh pipecat observer for one session."""
        from pipecat.frames.frames import (
            LLMContextFrame,
            LLMTextFrame,
            OutputAudioRawFrame,
            TranscriptionFrame,
            TTSAudioRawFrame,
            UserStoppedSpeakingFrame,
            VADUserStoppedSpeakingFrame,
        )
        from pipecat.observers.base_observer import BaseObserver, FramePushed
        from pipecat.processors.frame_processor import FrameDirection

        stt, llm, tts = (session.processors[k] for k in ("stt", "llm", "tts"))
        marks = self.marks
        timed = self._time_whisper

        class _Observer(BaseObserver):
            async def on_push_frame(self, data: FramePushed) -> None:
                frame, now = data.frame, time.monotonic()
                if data.direction != FrameDirection.DOWNSTREAM:
                    return
                timed(stt)
                if isinstance(frame, VADUserStoppedSpeakingFrame) and data.destination is stt:
                    marks.append((now, "vad_stop"))
                elif isinstance(frame, TranscriptionFrame) and data.source is stt:
                    marks.append((now, "transcript"))
                elif (isinstance(frame, UserStoppedSpeakingFrame)
                      and type(data.source).__name__ == "LLMUserAggregator"):
                    marks.append((now, "turn_end"))
                elif isinstance(frame, LLMContextFrame) and data.destination is llm:
                    marks.append((now, "llm_request"))
                elif isinstance(frame, LLMTextFrame) and data.source is llm:
                    marks.append((now, "llm_first_text"))
                elif data.destination is tts and type(frame).__name__ in (
                        "AggregatedTextFrame", "TTSSpeakFrame"):
                    marks.append((now, "tts_text"))
                elif isinstance(frame, TTSAudioRawFrame) and data.source is tts:
                    marks.append((now, "tts_audio"))
                elif (isinstance(frame, OutputAudioRawFrame)
                      and type(data.destination).__name__.endswith("OutputTransport")
                      and frame.audio.strip(b"\x00")):
                    marks.append((now, "wire_audio"))

        return _Observer()

    def _time_whisper(self, stt: Any) -> None:
        """Mark each whisper run's start and end (its model is loaded when the
        pipeline starts, so it is wrapped at the first frame seen)."""
        model = getattr(stt, "_model", None)
        if model is None or getattr(model, "_stage_timed", False):
            return
        transcribe, marks, hook = model.transcribe, self.marks, self.read_hook

        def timed(*args: Any, **kwargs: Any) -> Any:
            if hook is not None:
                hook("asr_start")
            marks.append((time.monotonic(), "asr_start"))
            try:
                return transcribe(*args, **kwargs)
            finally:
                marks.append((time.monotonic(), "asr_done"))
                if hook is not None:
                    hook("asr_done")

        model.transcribe = timed
        model._stage_timed = True

    def stages(self, speech_end_at: float, first_audio_at: float | None) -> dict[str, float]:
        """First time of each stage in (speech end - 0.3 s, first audio], ms after the end."""
        until = (first_audio_at or speech_end_at + 30.0) + 0.05
        out: dict[str, float] = {}
        for at, name in self.marks:
            if speech_end_at - 0.3 < at <= until and name not in out:
                out[name] = round((at - speech_end_at) * 1000.0, 1)
        if first_audio_at is not None:
            out["client_audio"] = round((first_audio_at - speech_end_at) * 1000.0, 1)
        return out
