"""Word error of a transcript, and the reference texts of the recorded people the
benches play (the recognizer benches share them: bench/voice/asr_window.py,
bench/answers/asr_questions.py, bench/answers/spoken_answers.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Sense and Sensibility, chapter 1: the five LibriVox clips of bench/face/real_media.py
LIBRIVOX_TEXT = {
    "librivox_0870": "And Mr. John Dashwood had then leisure to consider how much there might "
                     "prudently be in his power to do for them",
    "librivox_0880": "He was not an ill-disposed young man",
    "librivox_0890": "unless to be rather cold hearted and rather selfish is to be ill-disposed",
}  # (0920 and 0930: no reference text at hand, not scored)


def words(text: str) -> list[str]:
    """Lowercase words, punctuation and hyphens dropped (whisper varies in both)."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Words substituted, dropped or added to turn `reference` into `hypothesis`
    (Levenshtein over words): the count every word error of the benches and tests
    is made of, each with its own way of cutting a text into words."""
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hypothesis, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1]


def wer(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference length."""
    ref = words(reference)
    return edit_distance(ref, words(hypothesis)) / max(1, len(ref))


__all__ = ["LIBRIVOX_TEXT", "edit_distance", "wer", "words"]
