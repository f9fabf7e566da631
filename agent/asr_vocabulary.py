"""The knowledge file's own words, as a prompt for the speech recognizer.

Why: whisper tiny.en hears a word it has rarely seen as a common one ("delivery" as
"the library", a network's made-up name as two words), and hall noise makes it
worse. Whisper reads a text prompt before it decodes (`initial_prompt`, or
faster-whisper's `hotwords`); a prompt made of the business's names and topics makes
those words likelier without any tuning on visitors' questions. The words come from
the operator's file alone, so every business gets its own prompt.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.persona import read_prompt_file

#: Whisper keeps at most 223 prompt tokens; a short prompt costs less decoder time.
MAX_PROMPT_WORDS = 60
_LABEL = re.compile(r"^([A-Z][\w&' -]{1,40}):", re.MULTILINE)
# A run of capitalised words (names: "Elm Street", "City Pass", "Wi-Fi"), joined by "&"
# inside a name ("Smith & Sons Hardware").
_NAME = re.compile(r"\b[A-Z][\w'-]*(?:(?:\s+(?:&\s+)?)[A-Z][\w'-]*)*")
#: where a sentence or a clause starts: a capital there is English's, not a name's
_STARTS = re.compile(r"(?:^|[.!?:;]\s+|\n)$")
#: days and months are capitalised in English, and no business's names
_CALENDAR = frozenset("""monday tuesday wednesday thursday friday saturday sunday january
    february march april may june july august september october november december""".split())


def vocabulary(knowledge: str) -> list[str]:
    """The file's names, then its labels, in the file's order, each once (a name that
    is only a label's first word, "Opening", is left to the label).

    Raises ValueError when the file holds no words to build a prompt from."""
    labels = [label.strip() for label in _LABEL.findall(knowledge)]
    label_words = {w.lower() for label in labels for w in label.split()}
    terms: dict[str, None] = {}
    for match in _NAME.finditer(knowledge):
        parts = [p for p in match.group(0).split() if p.lower() not in _CALENDAR]
        if len(parts) == 1 and _STARTS.search(knowledge[:match.start()]):
            continue  # a sentence's first word alone ("Items can...") is no name
        name = " ".join(parts)
        if len(name) > 1 and not (len(parts) == 1 and name.lower() in label_words):
            terms.setdefault(name, None)
    seen = {t.lower() for t in terms}
    for label in labels:
        if label.lower() not in seen:
            terms.setdefault(label, None)
    if not terms:
        raise ValueError("the knowledge file has no labels or names to prompt the recognizer with")
    return list(terms)


def recognizer_prompt(knowledge: str, max_words: int = MAX_PROMPT_WORDS) -> str:
    """The prompt whisper reads before a visitor's question: the file's labels and
    names as one comma-separated line, cut at `max_words` words."""
    words: list[str] = []
    for term in vocabulary(knowledge):
        if len(words) + len(term.split()) > max_words:
            break
        words.extend(term.split())
        words[-1] += ","
    return " ".join(words).rstrip(",") + "."


def recognizer_prompt_from_file(knowledge_file: Path) -> str:
    """`recognizer_prompt` of an operator's knowledge file (comments dropped)."""
    return recognizer_prompt(read_prompt_file(knowledge_file))
