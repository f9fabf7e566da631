"""How sure whisper was of a transcript, carried on the `TranscriptionFrame`.

Over a reply, whisper turns acted laughs into words: "I'm so sorry.",
"Laughter", "Bad yet bloom." A word list cannot know them, but whisper can:
such decodes are unsure of every token. Whisper itself calls a decode *failed*
when its mean token log-probability is below -1.0 (its `log_prob_threshold`,
where it would retry at a higher temperature); on the barge-in set every real
speech clip decodes at -0.85 or better. The barge-in verdict
(pipelines/turns/barge_in.py) treats a failed decode over a reply as no words: the
reply plays on. A normal turn keeps its words whatever their confidence.

pipecat's `WhisperSTTService.run_stt` builds the frame from the segments' text
only, so the segments are collected on the way: `collect_segments()` puts a
fresh list in a context variable before pipecat's `run_stt` runs, and the
model wrapper (pipelines/speech/models.py) appends the segments it decoded to it.
`asyncio.to_thread` runs the decode in a copy of the caller's context, which
holds the same list, so each call (a final transcript, or a speculative guess
in its own task) sees only its own segments.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

#: whisper's `log_prob_threshold`: below this mean token log-probability it deems
#: a decode failed (openai-whisper and faster-whisper default)
FAILED_DECODE_LOGPROB = -1.0

_SEGMENTS: ContextVar[list[Any] | None] = ContextVar("whisper_segments", default=None)


@dataclass(frozen=True)
class WhisperConfidence:
    """The decode behind one transcript: mean token log-probability, token count."""

    avg_logprob: float
    tokens: int

    @property
    def failed(self) -> bool:
        """Whisper itself would call this decode failed."""
        return self.avg_logprob < FAILED_DECODE_LOGPROB

    @classmethod
    def of(cls, segments: Iterable[Any]) -> WhisperConfidence | None:
        """Token-weighted mean over faster-whisper segments (None if there are none)."""
        weighted, tokens = 0.0, 0
        for segment in segments:
            count = max(1, len(getattr(segment, "tokens", ()) or ()))
            weighted += float(segment.avg_logprob) * count
            tokens += count
        return cls(weighted / tokens, tokens) if tokens else None


def collect_segments() -> list[Any]:
    """Start collecting the segments decoded in this context (see the module doc)."""
    segments: list[Any] = []
    _SEGMENTS.set(segments)
    return segments


def record_segments(segments: Iterable[Any]) -> None:
    """Called by the model wrapper with the segments a transcript is made of."""
    collected = _SEGMENTS.get()
    if collected is not None:
        collected.extend(segments)


def failed_decode(result: Any) -> bool:
    """True if a `TranscriptionFrame.result` says whisper's decode failed."""
    return isinstance(result, WhisperConfidence) and result.failed
