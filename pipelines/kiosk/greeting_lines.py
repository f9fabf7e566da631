"""The kiosk's greeting and goodbye: the persona's, unless `[kiosk]` sets its own.

The persona file (agent/persona.py, its front matter) says what the agent says
unasked, beside how it speaks. An operator who sets `[kiosk] greeting` or `goodbye`
(file, `AVATAR_FORCING_KIOSK_*`, or code) overrides it; set to "" or null it means
none. A field left at its default takes the persona's line, and with none there the
setting's default.
"""

from __future__ import annotations

from pathlib import Path

from agent.persona import persona_lines
from pipelines.settings.sections import KioskSettings


def kiosk_with_persona(kiosk: KioskSettings, persona_file: Path) -> KioskSettings:
    """`kiosk` with the persona's greeting and goodbye where the operator set none.

    Raises:
        ValueError: the persona's greeting or goodbye is empty or too long (named).
        FileNotFoundError: no persona file.
    """
    lines = persona_lines(persona_file)
    chosen = {name: line for name, line in (("greeting", lines.greeting),
                                            ("goodbye", lines.goodbye))
              if line is not None and name not in kiosk.model_fields_set}
    return kiosk.model_copy(update=chosen) if chosen else kiosk


__all__ = ["kiosk_with_persona"]
