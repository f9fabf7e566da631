"""The kiosk persona and its operator-editable knowledge, joined into one system prompt.

The persona (how to speak) and the knowledge (what is true about this store) are
separate files so an operator can update opening hours without touching the
instructions that keep answers short and speakable. HTML comments in either file
are notes for the operator and never reach the LLM.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.settings import PersonaSettings

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_BLANK_RUNS = re.compile(r"\n{3,}")

KNOWLEDGE_HEADER = "Store facts (the only things you know about this store):"


def read_prompt_file(path: Path) -> str:
    """Read a persona/knowledge markdown file, dropping operator comments."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt file not found: {path}")
    text = _HTML_COMMENT.sub("", path.read_text(encoding="utf-8"))
    text = _BLANK_RUNS.sub("\n\n", text).strip()
    if not text:
        raise ValueError(f"prompt file is empty: {path}")
    return text


def compose_system_prompt(persona: str, knowledge: str) -> str:
    """Persona first, then the facts: small models follow the instructions they read first."""
    return f"{persona.strip()}\n\n{KNOWLEDGE_HEADER}\n{knowledge.strip()}"


def build_system_prompt(persona: PersonaSettings) -> str:
    """The system prompt for `persona.persona_file` + `persona.knowledge_file`."""
    return compose_system_prompt(
        read_prompt_file(persona.persona_file), read_prompt_file(persona.knowledge_file)
    )
