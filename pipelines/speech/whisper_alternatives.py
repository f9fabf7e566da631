"""Whisper's other hypotheses for an utterance: the beam's n-best, kept beside the transcript.

With a beam of 5 whisper already holds several hypotheses when it finishes; faster-whisper
asks CTranslate2 for the best one only. `NBestWhisperModel` wraps the model's CTranslate2
`Whisper` and asks its beam search for up to `HYPOTHESES` of them (`num_hypotheses`, at
no measurable cost: the beam is searched either way), returning the same result to
faster-whisper (it reads the first), and recording every hypothesis's text and score for
the caller. The agent's routing may then prefer a near hypothesis that a fact answers to a
best one it cannot answer (agent/answers/heard.py; docs/ANSWERS.md section 25).

The record travels as the confidence does (pipelines/speech/transcript_confidence.py): a
list in a context variable, set by `collect_alternatives()` before the decode;
`asyncio.to_thread` runs the decode in a copy of the caller's context, which holds the same
list, so concurrent runs of the one shared model each see only their own.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, NamedTuple

from loguru import logger

#: hypotheses asked of the beam (at most the beam's size)
HYPOTHESES = 5


class Hypothesis(NamedTuple):
    """One of whisper's hypotheses: its text, and CTranslate2's score (the log-probability
    of its tokens normalised by their count: higher is likelier)."""

    text: str
    score: float


#: one list per decode call (one 30 s window each), each best first
_ALTERNATIVES: ContextVar[list[list[Hypothesis]] | None] = ContextVar(
    "whisper_alternatives", default=None)


def collect_alternatives() -> list[list[Hypothesis]]:
    """Start collecting the hypotheses of the decodes made in this context."""
    windows: list[list[Hypothesis]] = []
    _ALTERNATIVES.set(windows)
    return windows


def single_window(windows: list[list[Hypothesis]]) -> list[Hypothesis]:
    """The hypotheses of an utterance decoded in one window (a visitor's question); none
    for an utterance of several windows, whose hypotheses are of its parts."""
    return windows[0] if len(windows) == 1 else []


class NBestWhisperModel:
    """A CTranslate2 `Whisper` whose beam search returns its n-best (see the module doc)."""

    def __init__(self, model: Any, tokenizer: Any, hypotheses: int = HYPOTHESES) -> None:
        """`model`: the CTranslate2 model (`WhisperModel.model`); `tokenizer`: the `tokenizers`
        tokenizer that decodes its ids (`WhisperModel.hf_tokenizer`)."""
        self._model = model
        self._tokenizer = tokenizer
        self._hypotheses = hypotheses
        end = tokenizer.token_to_id("<|endoftext|>")
        self._end = end if end is not None else 1 << 30

    def __getattr__(self, name: str) -> Any:
        """Everything else is the wrapped model's (`encode`, `is_multilingual`, ...)."""
        return getattr(self._model, name)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        """CTranslate2's `generate`, asking a beam search for its n-best where a caller
        collects them; the result's first hypothesis is the one it returns alone."""
        windows = _ALTERNATIVES.get()
        beam = int(kwargs.get("beam_size", 1))
        if windows is None or beam < 2 or "num_hypotheses" in kwargs:
            return self._model.generate(*args, **kwargs)
        kwargs["num_hypotheses"] = min(self._hypotheses, beam)
        results = self._model.generate(*args, **kwargs)
        try:
            first = results[0]
            scores = list(getattr(first, "scores", None) or [])
            if len(scores) == len(first.sequences_ids):
                windows.append([Hypothesis(self._text(ids), float(score))
                                for ids, score in zip(first.sequences_ids, scores, strict=True)])
        except Exception as error:  # the transcript never depends on its alternatives
            logger.warning(f"whisper's other hypotheses not read: {error!r}")
        return results

    def _text(self, ids: list[int]) -> str:
        """A hypothesis's text (its timestamp and special tokens dropped)."""
        return str(self._tokenizer.decode([i for i in ids if i < self._end])).strip()
