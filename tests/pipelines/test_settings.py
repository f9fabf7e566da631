"""The one settings tree: layer precedence (flags > env > file > defaults), sections in
files and env vars, clear errors, defaults equal to the runtime dataclasses', and
docs/CONFIG.md up to date."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from agent.settings import DEFAULT_KNOWLEDGE_FILE
from pipelines.face.face_params import FacePacing
from pipelines.server.runtime import ServerConfig
from pipelines.settings import Settings, SettingsError
from pipelines.settings.reference import reference_table
from pipelines.settings.sections import (
    ASRSettings,
    AvatarSettings,
    LimitsSettings,
    ServerSettings,
    TurnSettings,
)
from pipelines.speech.models import ASRParams
from pipelines.voice_pipeline import TurnParams
from sdk.protocol import Limits

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read AVATAR_FORCING_* variables: a developer's shell must not leak in."""
    for key in list(os.environ):
        if key.startswith("AVATAR_FORCING_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    settings = Settings.load()
    assert settings.llm.uses_embedded_llm
    assert settings.persona.knowledge_file == DEFAULT_KNOWLEDGE_FILE
    assert settings.asr.model_path is None and settings.tts.voice_path is None
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8765)
    assert settings.avatar.video and settings.turns.semantic_turn == "auto"


def test_semantic_turn_auto_reads_words_only_from_the_embedded_server() -> None:
    """"auto" sends the visitor's words for a turn-end reading only to our own llama.cpp
    server (its /extras/next-token route); another endpoint is never asked."""
    from pipelines.voice_pipeline import LLMParams, TurnParams, reads_words

    ours = LLMParams(base_url="http://127.0.0.1:8080/v1", model="qwen", embedded=True)
    theirs = LLMParams(base_url="https://api.example.com/v1", model="gpt")
    auto = TurnParams(semantic_turn="auto")
    assert reads_words(auto, ours) and not reads_words(auto, theirs)
    assert reads_words(TurnParams(semantic_turn=True), theirs)
    assert not reads_words(TurnParams(semantic_turn=False), ours)
    for value, expected in (("auto", "auto"), ("true", True), ("0", False)):
        assert Settings.load(turns={"semantic_turn": value}).turns.semantic_turn \
            == expected


def test_precedence_flags_over_env_over_file_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site.toml"
    config.write_text("[server]\nport = 1111\nmax_sessions = 3\n"
                      "[llm]\ntemperature = 0.7\nmax_tokens = 50\n")
    monkeypatch.setenv("AVATAR_FORCING_SERVER_PORT", "2222")
    monkeypatch.setenv("AVATAR_FORCING_LLM_TEMPERATURE", "0.5")

    settings = Settings.load(config, llm={"temperature": 0.1})

    assert settings.llm.temperature == 0.1  # flag beats env and file
    assert settings.server.port == 2222  # env beats file
    assert settings.server.max_sessions == 3  # file beats default
    assert settings.llm.max_tokens == 50  # a flag for one field keeps the file's others
    assert settings.server.host == ServerSettings().host  # untouched default


def test_none_overrides_do_not_mask_lower_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An argparse flag left unset arrives as None and must not override env or file."""
    config = tmp_path / "site.toml"
    config.write_text("[server]\nmax_sessions = 5\n")
    monkeypatch.setenv("AVATAR_FORCING_SERVER_PORT", "9001")
    settings = Settings.load(config, server={"port": None, "max_sessions": None}, llm=None)
    assert (settings.server.port, settings.server.max_sessions) == (9001, 5)


@pytest.mark.parametrize(
    ("variable", "value", "section", "field", "expected"),
    [
        ("AVATAR_FORCING_LLM_BASE_URL", "http://10.0.0.5:8080/v1", "llm", "base_url",
         "http://10.0.0.5:8080/v1"),
        ("AVATAR_FORCING_TURNS_SEMANTIC_TURN", "1", "turns", "semantic_turn", True),
        ("AVATAR_FORCING_TURNS_VAD_STOP_SECS", "0.3", "turns", "vad_stop_secs", 0.3),
        ("AVATAR_FORCING_PERSONA_PERSONA_FILE", str(DEFAULT_KNOWLEDGE_FILE), "persona",
         "persona_file", DEFAULT_KNOWLEDGE_FILE),
        ("AVATAR_FORCING_AVATAR_CALIBRATE_PORTRAITS", "false", "avatar", "calibrate_portraits",
         False),
        ("AVATAR_FORCING_LIMITS_MAX_CAMERA_FPS", "12.5", "limits", "max_camera_fps", 12.5),
        ("AVATAR_FORCING_ASR_ENCODER_MIN_SECS", "25", "asr", "encoder_min_secs", 25.0),
        ("AVATAR_FORCING_SERVER_AUTH_TOKEN", "s3cret", "server", "auth_token", "s3cret"),
    ],
)
def test_every_section_is_set_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, section: str, field: str,
    expected: object,
) -> None:
    """`AVATAR_FORCING_<SECTION>_<FIELD>`, field names with underscores included."""
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("AVATAR_FORCING_LLM_MODEL", "m")  # needed beside an external base_url
    assert getattr(getattr(Settings.load(), section), field) == expected


def test_old_or_misspelt_env_names_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name from before the sections would otherwise be ignored without a word."""
    monkeypatch.setenv("AVATAR_FORCING_CACHE_DIR", "/tmp/x")  # not a setting: left alone
    assert Settings.load().server.port == 8765
    monkeypatch.setenv("AVATAR_FORCING_PORT", "9000")
    with pytest.raises(SettingsError,
                       match="AVATAR_FORCING_PORT is now AVATAR_FORCING_SERVER_PORT"):
        Settings.load()
    monkeypatch.delenv("AVATAR_FORCING_PORT")
    monkeypatch.setenv("AVATAR_FORCING_TURNS_SEMANTIC", "1")
    with pytest.raises(SettingsError, match="section 'turns' has no field 'semantic'"):
        Settings.load()


def test_yaml_sections_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    persona = tmp_path / "prompts" / "persona.md"
    persona.write_text("You are a museum guide.")
    config = tmp_path / "site.yaml"
    config.write_text(
        "persona:\n  persona_file: prompts/persona.md\n"
        "llm:\n  base_url: http://10.0.0.5:8080/v1/\n  model: my-model\n"
        "avatar:\n  portrait_dir: faces\n  camera_fps: 5\n"
        "turns:\n  semantic_turn: true\n"
    )
    settings = Settings.load(config)
    assert settings.persona.persona_file == persona
    assert settings.avatar.portrait_dir == tmp_path / "faces"
    assert settings.llm.base_url == "http://10.0.0.5:8080/v1"
    config_for_server = ServerConfig.from_settings(settings)
    assert config_for_server.face_pacing.camera_fps == 5
    assert config_for_server.turn.semantic_turn is True


def test_env_file_and_overrides_are_not_shared_between_loads(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text("[server]\nmax_sessions = 7\n")
    assert Settings.load(config).server.max_sessions == 7
    assert Settings.load().server.max_sessions == ServerSettings().max_sessions


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"persona": {"persona_file": "/nonexistent/persona.md"}}, "file does not exist"),
        ({"llm": {"base_url": "http://localhost:8080/v1"}}, "llm.model must name the model"),
        ({"server": {"port": 70000}}, "less than or equal to 65535"),
        ({"asr": {"model_path": "/tmp"}}, "model.bin"),
        ({"tts": {"voice_path": "/etc/hostname"}}, r"\.onnx"),
        ({"turns": {"vad_stop_secs": -1}}, "greater than 0"),
        ({"server": {"no_such_field": 1}}, "no_such_field"),
        ({"no_such_section": {"x": 1}}, "no_such_section"),
    ],
)
def test_invalid_settings_name_the_problem(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.load(**overrides)


def test_invalid_env_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVATAR_FORCING_SERVER_MAX_SESSIONS", "many")
    with pytest.raises(ValidationError, match="max_sessions"):
        Settings.load()


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        Settings.load(tmp_path / "missing.toml")
    ini = tmp_path / "agent.ini"
    ini.write_text("port=1\n")
    with pytest.raises(ValueError, match=r"\.toml, \.yaml or \.yml"):
        Settings.load(ini)
    flat = tmp_path / "flat.toml"
    flat.write_text("port = 1\n")  # the layout before the sections: told where it lives
    with pytest.raises(ValueError, match=r"`port` belongs under \[server\]"):
        Settings.load(flat)
    old_table = tmp_path / "old.toml"
    old_table.write_text("[agent]\nllm_model = 'x'\n")
    with pytest.raises(ValueError, match="`agent` is no section"):
        Settings.load(old_table)
    typo = tmp_path / "typo.toml"
    typo.write_text("[server]\nprot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        Settings.load(typo)


def test_settings_are_immutable() -> None:
    settings = Settings.load()
    with pytest.raises(ValidationError):
        settings.server = ServerSettings(port=1)  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.server.port = 1  # type: ignore[misc]


def test_unset_flags_keep_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().avatar.calibrate_portraits
    monkeypatch.setenv("AVATAR_FORCING_AVATAR_CALIBRATE_PORTRAITS", "false")
    assert not Settings.load(avatar={"calibrate_portraits": None}).avatar.calibrate_portraits


@pytest.mark.parametrize(
    ("params", "section"),
    [(TurnParams, TurnSettings), (FacePacing, AvatarSettings), (ASRParams, ASRSettings),
     (Limits, LimitsSettings)],
)
def test_sections_hold_every_runtime_field_with_the_same_default(
    params: type, section: type[BaseModel]
) -> None:
    """The dataclasses the code uses and the sections a user sets must not drift."""
    for field in dataclasses.fields(params):
        assert field.name in section.model_fields, f"{section.__name__} lacks {field.name}"
        assert section.model_fields[field.name].default == field.default, field.name


def test_server_config_from_default_settings_is_the_default_config() -> None:
    built = ServerConfig.from_settings(Settings.load())
    assert built == ServerConfig()
    assert Settings.load().limits.params() == Limits()
    assert ASRParams.from_section(Settings.load().asr) == ASRParams()


def test_the_reference_table_is_up_to_date() -> None:
    """docs/CONFIG.md is written by `python -m pipelines.settings --reference`."""
    written = (REPO / "docs" / "CONFIG.md").read_text(encoding="utf-8")
    assert written == reference_table(), (
        "docs/CONFIG.md is out of date: python -m pipelines.settings --reference > docs/CONFIG.md")
    for section, model in Settings.model_fields.items():
        assert model.annotation is not None
        for name in model.annotation.model_fields:  # type: ignore[union-attr]
            assert f"`AVATAR_FORCING_{section.upper()}_{name.upper()}`" in written
