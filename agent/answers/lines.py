"""What the kiosk says where the knowledge file does not answer: the persona's lines.

An operator sets them in the persona file's settings block (`dont_know:` and
`off_topic:`, beside `greeting:`; agent/persona.py `persona_lines`). Without them the
kiosk says a neutral line that fits any business: it names none of its topics, so a
museum's kiosk never offers a shop's opening hours, returns or delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.persona import persona_lines

#: Said where the kiosk does not know, when the persona file names no line of its own.
DONT_KNOW_LINE = "Sorry, I don't know that. Please ask a member of staff."


@dataclass(frozen=True)
class AnswerLines:
    """The lines said without the LLM where no fact answers."""

    #: a question about the place that no fact found answers (an amount, a time, a name)
    dont_know: str = DONT_KNOW_LINE
    #: a message no fact is about (off-topic, or about something the file does not hold)
    off_topic: str = DONT_KNOW_LINE

    @classmethod
    def from_persona(cls, persona_file: Path) -> AnswerLines:
        """The persona file's `dont_know` and `off_topic`, each defaulting to the neutral
        line (an `off_topic` of its own falls back to its `dont_know`)."""
        lines = persona_lines(persona_file)
        dont_know = lines.dont_know or DONT_KNOW_LINE
        return cls(dont_know=dont_know, off_topic=lines.off_topic or dont_know)


DEFAULT_LINES = AnswerLines()
