"""Stopping a whisper run whose transcript is no longer wanted, between its encoder and decoder.

A speculative guess (pipelines/speech/speculative_stt.py) is made at a pause; when the
visitor goes on, its transcript is only a prefix and is never used. Whisper cannot be
interrupted inside its encoder or its beam search (one C++ call each), yet the guess
kept the model busy to its end, and the next guess, at the pause that really ends the
utterance, could only start after it (docs/LATENCY.md measures it). The decoder is a
large share of a run on a short question, so a run abandoned while encoding ends at its
encoder's end, and one abandoned before it starts costs nothing.

How: the run's owner sets a `threading.Event` for the run (`abandonable`); the model's
`encode` is wrapped (`AbandonableEncoder`) to check it before and after encoding and
raise `WhisperRunAbandoned`. The event travels in a context variable, which
`asyncio.to_thread` copies into the worker thread, so concurrent runs of the one
shared model (several sessions) each see only their own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: the current run's "abandon" event (None: a run nobody abandons)
_ABANDON: ContextVar[threading.Event | None] = ContextVar("whisper_abandon", default=None)


class WhisperRunAbandoned(Exception):
    """Raised inside a whisper run whose owner no longer wants its transcript."""


@contextmanager
def abandonable(event: threading.Event) -> Iterator[None]:
    """Runs started in this block (and the threads they hand off to) stop once `event` is set."""
    token = _ABANDON.set(event)
    try:
        yield
    finally:
        _ABANDON.reset(token)


def check_abandoned() -> None:
    """Raise `WhisperRunAbandoned` if the current run's owner has set its event."""
    event = _ABANDON.get()
    if event is not None and event.is_set():
        raise WhisperRunAbandoned("the transcript of this run is no longer wanted")


class AbandonableEncoder:
    """`WhisperModel.encode` that checks for abandonment before and after encoding, so an
    abandoned run skips the encoder (set before it started) or the decoder (set during it)."""

    def __init__(self, encode: Callable[[Any], Any]) -> None:
        self._encode = encode

    def __getattr__(self, name: str) -> Any:
        """The wrapped encoder's attributes (`last_frames` of the fitted window)."""
        return getattr(self._encode, name)

    def __call__(self, features: Any) -> Any:
        check_abandoned()
        encoded = self._encode(features)
        check_abandoned()
        return encoded
