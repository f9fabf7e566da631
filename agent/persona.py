"""The kiosk persona and its operator-editable knowledge, joined into one system prompt.

The persona (how to speak) and the knowledge (what is true about this store) are
separate files so an operator can update opening hours without touching the
instructions that keep answers short and speakable. HTML comments in either file
are notes for the operator and never reach the LLM.

The persona file also holds the kiosk's fixed lines, in a front matter block of
`key: value` lines between two `---` lines at its top (`persona_lines`): what it says
unasked (`greeting`, `goodbye`) and where the knowledge file does not answer
(`dont_know`: a question about the place no fact answers; `off_topic`: a message no
fact is about). The block is settings, not prompt: the LLM never reads it. A server's
`[kiosk] greeting` / `goodbye`, when set, override those two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.settings import PersonaSettings

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_BLANK_RUNS = re.compile(r"\n{3,}")
#: a block of `key: value` lines between two `---` lines at the very top of the file
_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)^---[ \t]*(?:\n|\Z)", re.DOTALL | re.MULTILINE)

KNOWLEDGE_HEADER = "Facts (the only things you know about this place):"

#: the longest greeting and goodbye (as `[kiosk]` allows them): spoken unasked, a
#: visitor waits through them before their first question
MAX_GREETING_CHARS = 500
MAX_GOODBYE_CHARS = 200
#: the longest don't-know and off-topic line: said instead of an answer
MAX_DECLINE_CHARS = 300
_LINE_LIMITS = {"greeting": MAX_GREETING_CHARS, "goodbye": MAX_GOODBYE_CHARS,
                "dont_know": MAX_DECLINE_CHARS, "off_topic": MAX_DECLINE_CHARS}


@dataclass(frozen=True)
class PersonaLines:
    """What the persona says unasked (on a visitor's arrival, and as they walk away) and
    where the knowledge file does not answer (None: the persona file names none)."""

    greeting: str | None = None
    goodbye: str | None = None
    dont_know: str | None = None
    off_topic: str | None = None


def split_front_matter(text: str) -> tuple[str, str]:
    """(`key: value` block, the rest) of a prompt file's text; ('', text) without one."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text
    return match.group(1), text[match.end():]


def persona_lines(path: Path) -> PersonaLines:
    """The fixed lines in the front matter of the persona file at `path`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not `key: value`, an unknown or repeated key, or a
            greeting or goodbye that is empty or longer than its limit (the message
            names the file, the key and the limit).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt file not found: {path}")
    block, _ = split_front_matter(path.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for number, raw in enumerate(block.splitlines(), start=2):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip().lower(), _unquote(value.strip())
        if not colon:
            raise ValueError(f"{path}: front matter line {number} is not 'key: value': {line!r}")
        if key not in _LINE_LIMITS:
            raise ValueError(f"{path}: unknown front matter key {key!r} on line {number} "
                             f"(known: {', '.join(sorted(_LINE_LIMITS))})")
        if key in found:
            raise ValueError(f"{path}: {key} is given twice (line {number})")
        if not value:
            raise ValueError(f"{path}: the persona's {key} is empty (line {number}); "
                             f"remove the line for none")
        if len(value) > _LINE_LIMITS[key]:
            raise ValueError(f"{path}: the persona's {key} is {len(value)} characters, over "
                             f"the {_LINE_LIMITS[key]} allowed (line {number})")
        found[key] = value
    return PersonaLines(**found)


def _unquote(value: str) -> str:
    """`"text"` or `'text'` -> text (quotes let a line start or end with spaces)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value


def read_prompt_file(path: Path) -> str:
    """Read a persona/knowledge markdown file, dropping its front matter (settings,
    `persona_lines`) and operator comments."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt file not found: {path}")
    _, body = split_front_matter(path.read_text(encoding="utf-8"))
    text = _HTML_COMMENT.sub("", body)
    text = _BLANK_RUNS.sub("\n\n", text).strip()
    if not text:
        raise ValueError(f"prompt file is empty: {path}")
    return text


#: "You are Ada, ...", "Your name is Ada": the persona's own name
_PERSONA_NAME = re.compile(r"\b(?:You are|Your name is|You're)\s+([A-Z][a-z]+)\b")


def persona_name(persona: str) -> str | None:
    """The name the persona gives the kiosk ("You are Ada, the voice of..." -> "Ada")."""
    match = _PERSONA_NAME.search(persona)
    return match.group(1) if match else None


def compose_system_prompt(persona: str, knowledge: str) -> str:
    """Persona first, then the facts: small models follow the instructions they read first."""
    return f"{persona.strip()}\n\n{KNOWLEDGE_HEADER}\n{knowledge.strip()}"


def build_system_prompt(persona: PersonaSettings) -> str:
    """The system prompt for `persona.persona_file` + `persona.knowledge_file`. A knowledge
    file that is empty, missing or not UTF-8 adds no facts here: the knowledge index
    (agent/answers/knowledge_file.py) reads it anyway and warns at start-up, and with it
    the facts come with each question, not in this prompt."""
    try:
        knowledge = read_prompt_file(persona.knowledge_file)
    except (OSError, ValueError):  # UnicodeDecodeError is a ValueError
        knowledge = ""
    return compose_system_prompt(read_prompt_file(persona.persona_file), knowledge)


def without_knowledge(system_prompt: str) -> str:
    """The persona part of a system prompt `compose_system_prompt` wrote: what the LLM
    reads when the facts come with each question (agent/answers/routing.py)."""
    persona, header, _ = system_prompt.partition(KNOWLEDGE_HEADER)
    return persona.strip() if header else system_prompt
