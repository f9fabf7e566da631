"""The kiosk's greeting and goodbye: the persona file's, `[kiosk]` overriding it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.server.runtime import ServerConfig
from pipelines.settings import Settings


def persona(tmp_path: Path, front: str) -> Path:
    path = tmp_path / "persona.md"
    path.write_text(f"---\n{front}---\nYou are Ada, the museum's guide.\n")
    return path


def test_the_persona_greets_and_says_goodbye_unless_the_kiosk_settings_say_otherwise(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = persona(tmp_path, "greeting: Welcome to the museum.\ngoodbye: Enjoy your day.\n")
    kiosk = ServerConfig.from_settings(Settings.load(None, persona={"persona_file": path})).kiosk
    assert (kiosk.greeting, kiosk.goodbye) == ("Welcome to the museum.", "Enjoy your day.")
    # a config file's [kiosk] greeting wins over the persona's; its goodbye stays
    config = tmp_path / "kiosk.toml"
    config.write_text(f'[persona]\npersona_file = "{path}"\n[kiosk]\ngreeting = "Hi!"\n')
    kiosk = ServerConfig.from_settings(Settings.load(config)).kiosk
    assert (kiosk.greeting, kiosk.goodbye) == ("Hi!", "Enjoy your day.")
    # so does an environment variable, and "" there means no goodbye at all
    monkeypatch.setenv("AVATAR_FORCING_KIOSK_GOODBYE", "")
    kiosk = ServerConfig.from_settings(Settings.load(config)).kiosk
    assert (kiosk.greeting, kiosk.goodbye) == ("Hi!", "")


def test_a_persona_without_lines_keeps_the_kiosk_defaults(tmp_path: Path) -> None:
    path = tmp_path / "persona.md"
    path.write_text("You are Ada.\n")
    settings = Settings.load(None, persona={"persona_file": path})
    assert ServerConfig.from_settings(settings).kiosk == settings.kiosk


def test_a_persona_with_an_empty_greeting_stops_the_server_config_by_name(tmp_path: Path) -> None:
    path = persona(tmp_path, "greeting:\n")
    with pytest.raises(ValueError, match="persona's greeting is empty"):
        ServerConfig.from_settings(Settings.load(None, persona={"persona_file": path}))
