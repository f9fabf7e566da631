"""Typed configuration of the conversational agent.

One way to configure, four layers, highest first:

1. explicit keyword arguments (CLI flags) passed to `AgentSettings.load(...)`,
2. environment variables `AVATAR_FORCING_<FIELD>` (e.g. `AVATAR_FORCING_LLM_BASE_URL`),
3. a TOML or YAML config file given to `AgentSettings.load(config_file)`,
4. the defaults below.

A config file holds the fields at its top level, or under an `agent` table so one
file can also carry other components' sections. Relative paths inside the file are
resolved against the file's folder, so a config and its persona travel together.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from agent.bundled_models import EmbeddedModelName

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PERSONA_FILE = DATA_DIR / "kiosk_persona.md"
DEFAULT_KNOWLEDGE_FILE = DATA_DIR / "kiosk_knowledge.md"

_PATH_FIELDS = (
    "asr_model_path", "tts_voice_path", "persona_file", "knowledge_file", "portrait_dir",
)

# The parsed config file for the `load()` call in progress. A ContextVar (not a
# class attribute) so concurrent loads in threads or tasks never see each other's file.
_CONFIG_FILE_DATA: ContextVar[dict[str, Any] | None] = ContextVar(
    "avatar_forcing_agent_config", default=None
)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a `.toml`, `.yaml` or `.yml` config file into the agent's field mapping."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        with path.open("rb") as handle:
            data: Any = tomllib.load(handle)
    elif suffix in (".yaml", ".yml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    else:
        raise ValueError(f"config file {path} must end in .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a table of settings at its top level")
    if isinstance(data.get("agent"), dict):
        data = data["agent"]
    resolved = dict(data)
    for key in _PATH_FIELDS:
        value = resolved.get(key)
        if isinstance(value, str) and value:
            candidate = Path(value).expanduser()
            resolved[key] = candidate if candidate.is_absolute() else path.parent / candidate
    return resolved


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Feeds the config file of the current `load()` call as the lowest non-default layer."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        data = _CONFIG_FILE_DATA.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_CONFIG_FILE_DATA.get() or {})


class AgentSettings(BaseSettings):
    """Everything the agent needs: LLM endpoint, speech models, persona, server limits."""

    model_config = SettingsConfigDict(
        env_prefix="AVATAR_FORCING_",
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    # --- LLM --------------------------------------------------------------------
    llm_base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL (e.g. http://host:8080/v1); "
        "None starts the embedded llama.cpp server.",
    )
    llm_api_key: str = Field(
        default="sk-no-key-required",
        description="API key for the endpoint; the openai client refuses an empty one.",
    )
    llm_model: str = Field(
        default="",
        description="Model name sent to the endpoint; empty means the embedded model's name.",
    )
    llm_embedded_model: EmbeddedModelName = Field(
        default="qwen2.5-0.5b",
        description="Which bundled GGUF the embedded server loads (see docs/LLM_CHOICE.md).",
    )
    llm_max_tokens: int = Field(
        default=96,
        ge=1,
        le=4096,
        description="Reply cap: a spoken answer is 1-2 sentences, ~40 words.",
    )
    llm_temperature: float = Field(
        default=0.2,
        ge=0.0,
        le=2.0,
        description="Low: a kiosk should repeat facts, not improvise.",
    )
    llm_context_tokens: int = Field(
        default=2048,
        ge=256,
        le=32768,
        description="Embedded server n_ctx: persona+knowledge (~900 tokens) plus a few turns.",
    )
    llm_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Embedded server CPU threads; unset: 1 when the server serves the avatar, "
        "2 when it is voice only (`video` off) on a machine with 2 or more cores "
        "(`llm_thread_count`). With the face on, the renders share the cores, and llama.cpp's "
        "two threads, waiting for each other at every layer, lose more than they gain: "
        "voice-to-voice p50 1.05 s against 0.96 s with 1 (bench/results/live_llm2_nice10.json); "
        "voice only, 2 threads answer at 0.71-0.77 s against 0.88-0.93 s (docs/LATENCY.md).",
    )
    llm_batch_threads: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="Embedded server threads for reading the prompt (the first token); unset: "
        "as many as `llm_threads`. A second reading thread alone, with the face on, was within "
        "the noise (docs/LATENCY.md).",
    )
    llm_startup_timeout_s: float = Field(
        default=90.0, gt=0, description="How long the embedded server may take to load."
    )
    llm_request_timeout_s: float = Field(
        default=30.0, gt=0, description="Per-request timeout for the openai client."
    )
    llm_retrieval: bool = Field(
        default=True,
        description="Match each message against the knowledge file; one no fact is about "
        "(off-topic, or a store question the file does not answer) gets a fixed 'I can "
        "help with the store' reply without the LLM (docs/LLM_CHOICE.md).",
    )
    llm_retrieval_facts: int = Field(
        default=1,
        ge=0,
        le=5,
        description="With llm_retrieval, write this many matching facts in front of the "
        "session's first store question. 1: the prompt cache holds every one-fact note, so "
        "the fact costs no first-token time (docs/LLM_CHOICE.md); 0: none.",
    )
    llm_answer_rules: bool = Field(
        default=True,
        description="With llm_retrieval, answer a yes/no store question with its best "
        "fact's own words, and a question for an amount no fact states ('How much is a "
        "sofa?') with 'I don't know', both without the LLM: the 0.5B model answered 'Yes' "
        "next to facts that say no, and invented prices (docs/LLM_CHOICE.md).",
    )
    llm_prompt_cache_mb: int = Field(
        default=256,
        ge=0,
        le=65536,
        description="Embedded server: llama.cpp's saved prompt states (the cap counts their "
        "8 MB of KV each; llama-cpp-python also keeps a 19 MB logits copy per state at "
        "n_batch 32: measured +1.45 GB resident), restored instead of re-read: system prompt "
        "+ each fact note (docs/LLM_CHOICE.md). 0: only the last prompt is reused, and a "
        "note costs ~0.3 s on the turn.",
    )

    # --- speech -----------------------------------------------------------------
    asr_model_path: Path | None = Field(
        default=None, description="faster-whisper model folder; None = bundled tiny.en."
    )
    asr_language: str = Field(default="en", min_length=2, max_length=8)
    tts_voice_path: Path | None = Field(
        default=None, description="piper .onnx voice (config .onnx.json beside it); None = joe."
    )

    # --- persona ----------------------------------------------------------------
    persona_file: Path = Field(default=DEFAULT_PERSONA_FILE)
    knowledge_file: Path = Field(default=DEFAULT_KNOWLEDGE_FILE)

    # --- avatar -----------------------------------------------------------------
    video: bool = Field(
        default=True,
        description="Serve the live avatar to clients whose hello asks for video "
        "(voice-only clients are unaffected); off: every session is voice only.",
    )
    portrait_dir: Path | None = Field(
        default=None,
        description="Folder of portrait images (JPEG/PNG) clients may name; the built-in "
        "grace_hopper is always available.",
    )
    default_portrait: str = Field(
        default="grace_hopper", min_length=1,
        description="Portrait used when a client names none (a file stem in portrait_dir).",
    )
    video_budget_ms: float = Field(
        default=100.0, gt=0, le=200,
        description="CPU a video session may spend per 200 ms block (ms of one core); the "
        "render size and camera rate a session STARTS with are chosen from this machine's "
        "costs, measured at start-up, to fit.",
    )
    adapt_video: bool = Field(
        default=True,
        description="Each video session adapts while it runs: when its frames run late it "
        "steps down (camera rate, then size, then images drawn; never audio) and back up "
        "when the machine has headroom, telling the client each time (`video-quality`); "
        "the same live measure admits or refuses new video sessions (close 1013). Off: a "
        "session keeps its start-up choice and only max_sessions limits admission.",
    )
    calibrate_portraits: bool = Field(
        default=True,
        description="Fit each portrait a session shows (library or upload) its own render "
        "calibration in one background process at nice 19, one portrait at a time (about "
        "a minute of a core each, cached on disk); sessions switch to it when it lands. "
        "Off: portraits keep the shipped table unless `avatar-forcing calibrate` ran.",
    )

    # --- server -----------------------------------------------------------------
    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8765, ge=0, le=65535)
    auth_token: str | None = Field(default=None, description="Bearer token clients must send.")
    max_sessions: int = Field(
        default=2, ge=1, le=64,
        description="Concurrent conversations at most (2 CPU cores: both share one LLM); "
        "video sessions are also admitted only while the machine's live capacity allows.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the layers: kwargs > env > config file (> field defaults)."""
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> AgentSettings:
        """Build settings from defaults, an optional config file, env vars and overrides.

        Overrides whose value is None are dropped: an argparse flag that was not
        given must not mask the env var or config file beneath it.
        """
        data = read_config_file(Path(config_file)) if config_file is not None else None
        token = _CONFIG_FILE_DATA.set(data)
        try:
            return cls(**{key: value for key, value in overrides.items() if value is not None})
        finally:
            _CONFIG_FILE_DATA.reset(token)

    # --- validation -------------------------------------------------------------
    @field_validator("llm_base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"llm_base_url must start with http:// or https://, got {value!r}")
        return value

    @field_validator("llm_api_key")
    @classmethod
    def _check_api_key(cls, value: str) -> str:
        if not value:
            raise ValueError("llm_api_key must not be empty (use any string for a local server)")
        return value

    @field_validator("persona_file", "knowledge_file")
    @classmethod
    def _check_text_file(cls, value: Path) -> Path:
        value = Path(value).expanduser()
        if not value.is_file():
            raise ValueError(f"file does not exist: {value}")
        return value

    @field_validator("asr_model_path")
    @classmethod
    def _check_asr_path(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = Path(value).expanduser()
        if not (value / "model.bin").is_file():
            raise ValueError(
                f"asr_model_path must be a faster-whisper (CTranslate2) folder with model.bin: "
                f"{value}"
            )
        return value

    @field_validator("tts_voice_path")
    @classmethod
    def _check_voice_path(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = Path(value).expanduser()
        if value.suffix != ".onnx" or not value.is_file():
            raise ValueError(f"tts_voice_path must be an existing piper .onnx voice: {value}")
        config = value.with_name(value.name + ".json")
        if not config.is_file():
            raise ValueError(f"piper voice config not found beside the voice: {config}")
        return value

    @model_validator(mode="after")
    def _check_external_model(self) -> AgentSettings:
        if self.llm_base_url is not None and not self.llm_model:
            raise ValueError(
                "llm_model must name the model when llm_base_url points at an external "
                "endpoint (AVATAR_FORCING_LLM_MODEL)"
            )
        return self

    @property
    def uses_embedded_llm(self) -> bool:
        """True when the agent must start its own llama.cpp server."""
        return self.llm_base_url is None

    def llm_thread_count(self) -> int:
        """The embedded server's threads: `llm_threads` if set; else 2 for a voice-only
        server on 2+ cores, where nothing else needs the cores while the LLM writes, and 1
        with the avatar on, whose renders would keep taking one of two threads away."""
        if self.llm_threads is not None:
            return self.llm_threads
        return 2 if not self.video and (os.cpu_count() or 1) >= 2 else 1

    def llm_batch_thread_count(self) -> int:
        """The embedded server's prompt-reading threads: `llm_batch_threads` if set, else
        as many as it writes with."""
        return self.llm_batch_threads or self.llm_thread_count()
