"""The conversation side of avatar-forcing: settings, bundled models, the embedded
LLM server, the kiosk persona and a thin OpenAI client. Never imports `avatar` or
`pipelines`."""

from agent.bundled_models import (
    PiperVoicePaths,
    embedded_gguf,
    piper_voice,
    qwen_gguf,
    smollm2_gguf,
    whisper_model_dir,
)
from agent.errors import AgentError, LLMEndpointError, LLMServerError, MissingModelError
from agent.llm_client import (
    ReplyTiming,
    build_messages,
    check_llm_endpoint,
    complete_reply,
    make_client,
    prefill,
    stream_reply,
    warm_up,
    warm_up_notes,
)
from agent.llm_endpoints import ChatEndpoint, EndpointResolver, FixedEndpoint, PoolEndpoint
from agent.llm_server import (
    EmbeddedLLMServer,
    LLMEndpoint,
    aresolve_llm_endpoint,
    resolve_llm_endpoint,
)
from agent.persona import build_system_prompt, compose_system_prompt, read_prompt_file
from agent.settings import LLMSettings, PersonaSettings

__all__ = [
    "AgentError",
    "ChatEndpoint",
    "EndpointResolver",
    "FixedEndpoint",
    "PoolEndpoint",
    "EmbeddedLLMServer",
    "LLMEndpoint",
    "LLMEndpointError",
    "LLMServerError",
    "LLMSettings",
    "MissingModelError",
    "PersonaSettings",
    "PiperVoicePaths",
    "ReplyTiming",
    "aresolve_llm_endpoint",
    "build_messages",
    "build_system_prompt",
    "check_llm_endpoint",
    "complete_reply",
    "compose_system_prompt",
    "embedded_gguf",
    "make_client",
    "piper_voice",
    "qwen_gguf",
    "read_prompt_file",
    "resolve_llm_endpoint",
    "smollm2_gguf",
    "stream_reply",
    "warm_up",
    "warm_up_notes",
    "prefill",
    "whisper_model_dir",
]
