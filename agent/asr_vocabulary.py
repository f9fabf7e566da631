"""The knowledge file's own words, as a prompt for the speech recognizer.

Why: whisper tiny.en hears a store word it has rarely seen as a common one
("delivery" as "the library", "MapleGuest" as "maple guest"), and hall noise
makes it worse. Whisper reads a text prompt before it decodes (`initial_prompt`,
or faster-whisper's `hotwords`); a prompt made of the store's names and topics
makes those words likelier without any tuning on visitors' questions. The words
come from the operator's file alone, so a new store gets its own prompt.
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.persona import read_prompt_file

#: Whisper keeps at most 223 prompt tokens; a short prompt costs less decoder time.
MAX_PROMPT_WORDS = 60
_LABEL = re.compile(r"^([A-Z][\w&' -]{1,40}):", re.MULTILINE)
# A run of capitalised words (names: "Harbor Road", "Apple Pay", "MapleGuest", "Wi-Fi"),
# joined by "&" or "and" inside a name ("Maple & Main Home Store").
_NAME = re.compile(r"\b[A-Z][\w'-]*(?:(?:\s+(?:&\s+)?)[A-Z][\w'-]*)*")
#: Capitalised words that begin sentences or days and months: not the store's names.
_NOT_NAMES = frozenset({
    "A", "An", "The", "No", "Yes", "We", "It", "Items", "Without", "Online", "Deliveries",
    "Email", "Keep", "Lines", "Write", "Operators", "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday", "Sunday", "Customer", "Store", "Opened",
})


def vocabulary(knowledge: str) -> list[str]:
    """The file's names, then its labels, in the file's order, each once (a name that
    is only a label's first word, "Opening", is left to the label).

    Raises ValueError when the file holds no words to build a prompt from."""
    labels = [label.strip() for label in _LABEL.findall(knowledge)]
    label_words = {w.lower() for label in labels for w in label.split()}
    terms: dict[str, None] = {}
    for name in _NAME.findall(knowledge):
        parts = name.split()
        while parts and parts[0] in _NOT_NAMES:
            parts = parts[1:]  # "No Visa" -> "Visa"; a sentence's first word is no name
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
