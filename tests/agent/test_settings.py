"""The agent's own settings sections: defaults, clear validation, thread counts.
(The tree that loads them from flags, env and a file: tests/pipelines/test_settings.py.)"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent import LLMSettings, PersonaSettings
from agent.settings import DEFAULT_KNOWLEDGE_FILE, DEFAULT_PERSONA_FILE


def test_defaults_use_the_bundled_persona_and_embedded_llm() -> None:
    llm, persona = LLMSettings(), PersonaSettings()
    assert llm.uses_embedded_llm and llm.base_url is None
    assert llm.embedded_model in ("smollm2", "qwen2.5-0.5b")
    assert persona.persona_file == DEFAULT_PERSONA_FILE
    assert persona.knowledge_file == DEFAULT_KNOWLEDGE_FILE


def test_an_external_endpoint_is_normalised() -> None:
    llm = LLMSettings(base_url="http://10.0.0.5:8080/v1/", model="my-model")
    assert llm.base_url == "http://10.0.0.5:8080/v1"  # trailing slash dropped
    assert not llm.uses_embedded_llm
    assert LLMSettings(base_url="  ").base_url is None  # blank: the embedded server


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        (PersonaSettings, {"persona_file": "/nonexistent/persona.md"}, "file does not exist"),
        (PersonaSettings, {"knowledge_file": "/nonexistent/facts.md"}, "file does not exist"),
        (LLMSettings, {"base_url": "localhost:8080/v1", "model": "x"}, "must start with http"),
        (LLMSettings, {"base_url": "http://localhost:8080/v1"}, "llm.model must name the model"),
        (LLMSettings, {"embedded_model": "llama-70b"}, "smollm2"),
        (LLMSettings, {"api_key": ""}, "must not be empty"),
        (LLMSettings, {"max_tokens": 0}, "greater than or equal to 1"),
        (LLMSettings, {"llm_max_tokens": 10}, "llm_max_tokens"),  # the old flat name
    ],
)
def test_invalid_values_name_the_problem(section: type, values: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        section(**values)


def test_sections_are_immutable() -> None:
    with pytest.raises(ValidationError):
        LLMSettings().max_tokens = 1  # type: ignore[misc]


def test_llm_threads_follow_the_avatar_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """One LLM thread beside the avatar's renders, two on a voice-only server with two
    cores; a value set by the operator always wins, and the prompt is read with as many
    threads as the reply is written unless that is set too."""
    from agent.llm_server import EmbeddedLLMServer

    monkeypatch.setattr("agent.settings.os.cpu_count", lambda: 2)
    llm = LLMSettings()
    assert (llm.thread_count(), llm.batch_thread_count()) == (1, 1)  # the avatar is on
    assert (llm.thread_count(video=False), llm.batch_thread_count(video=False)) == (2, 2)
    server = EmbeddedLLMServer.from_settings(llm, video=False)
    assert (server.n_threads, server.n_threads_batch) == (2, 2)
    command = server.command()
    assert command[command.index("--n_threads") + 1] == "2"
    assert command[command.index("--n_threads_batch") + 1] == "2"

    monkeypatch.setattr("agent.settings.os.cpu_count", lambda: 1)
    assert llm.thread_count(video=False) == 1

    chosen = LLMSettings(threads=3, batch_threads=1)
    assert (chosen.thread_count(video=False), chosen.batch_thread_count(video=False)) == (3, 1)
