"""AgentSettings: layer precedence (kwargs > env > file > defaults) and clear validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent import AgentSettings
from agent.settings import DEFAULT_KNOWLEDGE_FILE, DEFAULT_PERSONA_FILE


def test_defaults_use_the_bundled_persona_and_embedded_llm() -> None:
    settings = AgentSettings.load()
    assert settings.uses_embedded_llm
    assert settings.llm_base_url is None
    assert settings.persona_file == DEFAULT_PERSONA_FILE
    assert settings.knowledge_file == DEFAULT_KNOWLEDGE_FILE
    assert settings.asr_model_path is None and settings.tts_voice_path is None
    assert settings.llm_embedded_model in ("smollm2", "qwen2.5-0.5b")


def test_precedence_flags_over_env_over_file_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("port = 1111\nmax_sessions = 3\nllm_temperature = 0.7\n")
    monkeypatch.setenv("AVATAR_FORCING_PORT", "2222")
    monkeypatch.setenv("AVATAR_FORCING_LLM_TEMPERATURE", "0.5")

    settings = AgentSettings.load(config, llm_temperature=0.1)

    assert settings.llm_temperature == 0.1  # flag beats env and file
    assert settings.port == 2222  # env beats file
    assert settings.max_sessions == 3  # file beats default
    assert settings.host == AgentSettings.model_fields["host"].default  # untouched default


def test_none_overrides_do_not_mask_lower_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An argparse flag left unset arrives as None and must not override env or file."""
    config = tmp_path / "agent.toml"
    config.write_text("max_sessions = 5\n")
    monkeypatch.setenv("AVATAR_FORCING_PORT", "9001")
    settings = AgentSettings.load(config, port=None, max_sessions=None)
    assert (settings.port, settings.max_sessions) == (9001, 5)


def test_yaml_agent_section_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    persona = tmp_path / "prompts" / "persona.md"
    persona.write_text("You are a museum guide.")
    config = tmp_path / "site.yaml"
    config.write_text(
        "avatar:\n  fps: 25\n"
        "agent:\n  persona_file: prompts/persona.md\n  llm_base_url: http://10.0.0.5:8080/v1/\n"
        "  llm_model: my-model\n"
    )
    settings = AgentSettings.load(config)
    assert settings.persona_file == persona
    assert settings.llm_base_url == "http://10.0.0.5:8080/v1"  # trailing slash normalised
    assert not settings.uses_embedded_llm


def test_env_file_and_kwargs_are_not_shared_between_loads(tmp_path: Path) -> None:
    config = tmp_path / "a.toml"
    config.write_text("max_sessions = 7\n")
    assert AgentSettings.load(config).max_sessions == 7
    assert AgentSettings.load().max_sessions == AgentSettings.model_fields["max_sessions"].default


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"persona_file": "/nonexistent/persona.md"}, "file does not exist: /nonexistent"),
        ({"knowledge_file": "/nonexistent/facts.md"}, "file does not exist: /nonexistent"),
        ({"llm_base_url": "localhost:8080/v1", "llm_model": "x"}, "must start with http"),
        ({"llm_base_url": "http://localhost:8080/v1"}, "llm_model must name the model"),
        ({"port": 70000}, "less than or equal to 65535"),
        ({"llm_embedded_model": "llama-70b"}, "smollm2"),
        ({"asr_model_path": "/tmp"}, "model.bin"),
        ({"tts_voice_path": "/etc/hostname"}, ".onnx"),
        ({"llm_api_key": ""}, "must not be empty"),
        ({"no_such_field": 1}, "no_such_field"),
    ],
)
def test_invalid_settings_name_the_problem(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace(".", r"\.")):
        AgentSettings.load(**overrides)


def test_invalid_env_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVATAR_FORCING_MAX_SESSIONS", "many")
    with pytest.raises(ValidationError, match="max_sessions"):
        AgentSettings.load()


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        AgentSettings.load(tmp_path / "missing.toml")
    ini = tmp_path / "agent.ini"
    ini.write_text("port=1\n")
    with pytest.raises(ValueError, match=r"\.toml, \.yaml or \.yml"):
        AgentSettings.load(ini)
    typo = tmp_path / "typo.toml"
    typo.write_text("prot = 1\n")
    with pytest.raises(ValidationError, match="prot"):
        AgentSettings.load(typo)


def test_settings_are_immutable() -> None:
    settings = AgentSettings.load()
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_background_portrait_calibration_is_on_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    assert AgentSettings.load().calibrate_portraits
    monkeypatch.setenv("AVATAR_FORCING_CALIBRATE_PORTRAITS", "false")
    assert not AgentSettings.load().calibrate_portraits
    assert AgentSettings.load(calibrate_portraits=None).calibrate_portraits is False  # unset flag


def test_llm_threads_follow_the_avatar_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """One LLM thread beside the avatar's renders, two on a voice-only server with two
    cores; a value set by the operator always wins, and the prompt is read with as many
    threads as the reply is written unless that is set too."""
    from agent.llm_server import EmbeddedLLMServer

    monkeypatch.setattr("agent.settings.os.cpu_count", lambda: 2)
    with_face = AgentSettings.load()
    voice_only = AgentSettings.load(video=False)
    assert (with_face.llm_thread_count(), with_face.llm_batch_thread_count()) == (1, 1)
    assert (voice_only.llm_thread_count(), voice_only.llm_batch_thread_count()) == (2, 2)
    server = EmbeddedLLMServer.from_settings(voice_only)
    assert (server.n_threads, server.n_threads_batch) == (2, 2)
    command = server.command()
    assert command[command.index("--n_threads") + 1] == "2"
    assert command[command.index("--n_threads_batch") + 1] == "2"

    monkeypatch.setattr("agent.settings.os.cpu_count", lambda: 1)
    assert AgentSettings.load(video=False).llm_thread_count() == 1

    monkeypatch.setenv("AVATAR_FORCING_LLM_THREADS", "3")
    chosen = AgentSettings.load(video=False, llm_batch_threads=1)
    assert (chosen.llm_thread_count(), chosen.llm_batch_thread_count()) == (3, 1)
