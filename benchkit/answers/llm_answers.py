"""Judging the kiosk LLM's answers: the question set, the keyword judge and where a
first sentence ends.

Why here: bench/answers/llm_compare.py and bench/answers/kiosk_answers.py score answers against
the same questions with the same judge, so their accuracies compare.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from benchkit.paths import ROOT

#: The questions with the keywords a right answer holds (bench/answers/llm_questions.json).
QUESTIONS_FILE = ROOT / "bench" / "answers" / "llm_questions.json"
# A sentence is complete once its end mark is followed by whitespace: "2." may be "2.5".
SENTENCE_END = re.compile(r"[.!?][\"')]?\s")


def _matches(pattern: str, text: str) -> bool:
    """Regex `pattern` on word boundaries; `digits:NNN` compares digit runs only."""
    if pattern.startswith("digits:"):
        return pattern.removeprefix("digits:") in re.sub(r"\D", "", text)
    return re.search(rf"(?<!\w)(?:{pattern})(?!\w)", text, flags=re.IGNORECASE) is not None


def judge(
    question: dict[str, Any],
    answer: str,
    refusal_any_of: list[str],
    redirect_any_of: Sequence[str] = (),
) -> bool:
    """True when the answer holds every expected group and none of the forbidden phrases.

    An `unknown` question needs a refusal; an `offtopic` one a refusal or a
    redirect to the store (and, through `none_of`, no parroting)."""
    text = answer.replace("\u2019", "'")
    if not text.strip() or any(_matches(p, text) for p in question.get("none_of", [])):
        return False
    if question["kind"] == "unknown":
        return any(_matches(p, text) for p in refusal_any_of)
    if question["kind"] == "offtopic":
        return any(_matches(p, text) for p in [*refusal_any_of, *redirect_any_of])
    return all(any(_matches(p, text) for p in group) for group in question["all_of"])
