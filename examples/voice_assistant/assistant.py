"""The Riverside Cycles voice assistant, assembled from the framework's public parts.

What is specific to this assistant lives in three files beside this one:
`persona.md` (how it speaks), `knowledge.md` (what it knows) and `shop_tools.py`
(what it can look up). Everything else is the framework: `pipelines.settings.Settings`
loads `assistant.toml`, `pipelines.server.app.load_runtime` loads the bundled speech
models and starts (or connects to) the LLM, `create_app` serves protocol v1 over websockets,
and the `sdk` client speaks to it.

Tools are used only where they work. pipecat streams every chat request, and a tool
call is only useful when the endpoint streams it back as OpenAI `tool_calls`.
OpenAI, vLLM (with a tool-call parser), Ollama and llama.cpp's `llama-server --jinja`
do; the embedded llama-cpp-python server does not (its default chat format renders
tools into the prompt and the model then *writes* its call as text, which the voice
would read out, and its `chatml-function-calling` format refuses streamed automatic
tool choice). So `--tools auto` keeps the tool off on the embedded LLM, probes an
external endpoint once at start-up, and the persona gets one line telling the model
what to do either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import openai
from loguru import logger
from shop_tools import REPAIR_STATUS_SCHEMA, TOOL_NAME, register_tools

from agent.errors import LLMEndpointError
from agent.llm_client import make_client
from agent.persona import build_system_prompt
from pipelines.settings import Settings
from pipelines.voice_pipeline import LLMParams, VoiceSession
from sdk import TalkResult, VoiceClient, read_wav_pcm16, talk

EXAMPLE_DIR = Path(__file__).resolve().parent
CONFIG_FILE = EXAMPLE_DIR / "assistant.toml"

ToolMode = Literal["auto", "on", "off"]
TOOL_MODES: tuple[ToolMode, ...] = ("auto", "on", "off")

#: Appended to the persona when the tool is live: tiny models call tools they are told about.
TOOLS_ON_HINT = (
    f"When a customer asks about their repair, call the {TOOL_NAME} tool with the ticket "
    "number, then tell them the status in one short sentence."
)
#: ...and when it is not, so the model neither promises a lookup nor invents a status.
#: An exact sentence to say works far better with a 0.5B model than a rule to follow:
#: told only "you cannot look up repairs", Qwen2.5-0.5B still answered "Yes, your bike is
#: ready" to "Is my bike ready? Ticket 2177." in our checks; with this line it never did.
TOOLS_OFF_HINT = (
    "If someone asks about a repair, a ticket number, or whether their bike is ready, "
    "reply exactly: I can't check repairs from here, please call the shop."
)

_PROBE_QUESTION = "What is the status of my bike repair? My ticket number is 1042."


@dataclass(frozen=True)
class ToolSupport:
    """Whether this run offers the tool to the LLM, and why (logged and printed)."""

    enabled: bool
    reason: str


def load_settings(
    config_file: Path | None = CONFIG_FILE, **overrides: dict[str, Any] | None
) -> Settings:
    """`assistant.toml` (persona, knowledge, port, portrait), then AVATAR_FORCING_* env,
    then flags (`overrides` per section, e.g. `server={"port": 8767}`). The file's
    relative paths (persona, knowledge, `portraits/`) are its folder's."""
    return Settings.load(config_file, **overrides)


def assistant_system_prompt(settings: Settings, *, tools_enabled: bool) -> str:
    """Persona + knowledge from the settings' files, plus the line matching the tool state."""
    hint = TOOLS_ON_HINT if tools_enabled else TOOLS_OFF_HINT
    return f"{build_system_prompt(settings.persona)}\n\n{hint}"


async def probe_tool_calls(llm: LLMParams, *, timeout_s: float = 60.0) -> ToolSupport:
    """Ask the endpoint one streamed question that needs the tool; see what comes back.

    Streamed like pipecat's own requests, because some servers handle tools only
    without streaming. Outcomes: streamed `tool_calls` -> on; HTTP error -> off (the
    server rejects tools); text only -> off (the server cannot return tool calls, or
    the model ignored the tool; `--tools on` overrides).

    Raises:
        LLMEndpointError: the endpoint cannot be reached at all.
    """
    client = make_client(llm.base_url, llm.api_key, timeout_s=timeout_s)
    called: str | None = None
    text: list[str] = []
    try:
        stream = await client.chat.completions.create(
            model=llm.model,
            messages=[
                {"role": "system", "content": f"You help bike shop customers. {TOOLS_ON_HINT}"},
                {"role": "user", "content": _PROBE_QUESTION},
            ],
            tools=[{"type": "function", "function": REPAIR_STATUS_SCHEMA.to_default_dict()}],
            max_tokens=64,
            temperature=0.0,
            stream=True,
        )
        async for chunk in stream:
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            for call in delta.tool_calls or []:
                if call.function is not None and call.function.name:
                    called = call.function.name
            if delta.content:
                text.append(delta.content)
    except openai.APIStatusError as error:
        return ToolSupport(
            False, f"the endpoint refused a request with tools (HTTP {error.status_code})"
        )
    except (openai.APIConnectionError, openai.APITimeoutError) as error:
        raise LLMEndpointError(f"tool probe: cannot reach {llm.base_url}: {error}") from error
    finally:
        await client.close()
    if called is not None:
        return ToolSupport(True, f"the endpoint streams tool calls (probe called {called!r})")
    said = "".join(text)
    if TOOL_NAME in said or "tool_call" in said:
        return ToolSupport(
            False, "the model wrote its tool call as text: the server has no tool-call parser"
        )
    return ToolSupport(False, "the model answered the probe without calling the tool")


async def decide_tools(mode: ToolMode, settings: Settings, llm: LLMParams) -> ToolSupport:
    """Resolve `--tools auto|on|off` into a decision with a reason."""
    if mode == "off":
        return ToolSupport(False, "turned off (--tools off)")
    if mode == "on":
        return ToolSupport(True, "forced on (--tools on)")
    if mode != "auto":
        raise ValueError(f"tools mode must be one of {TOOL_MODES}, got {mode!r}")
    if settings.llm.uses_embedded_llm:
        return ToolSupport(
            False,
            "the embedded llama-cpp-python server cannot stream tool calls; "
            "point --llm-base-url at OpenAI, vLLM, Ollama or llama-server --jinja",
        )
    return await probe_tool_calls(llm)


def add_shop_tools(session: VoiceSession) -> None:
    """The per-session step: give this session's LLM the repair-status tool."""
    register_tools(session.processors["llm"], session.context)  # type: ignore[arg-type]


@dataclass
class RunningAssistant:
    """A live assistant server (from `running_assistant`)."""

    url: str
    tools: ToolSupport
    llm: LLMParams
    server: Any  # uvicorn.Server
    task: asyncio.Task[None]

    async def wait_closed(self) -> None:
        """Block until the server stops (Ctrl-C / SIGTERM are handled by uvicorn)."""
        await self.task


@contextlib.asynccontextmanager
async def running_assistant(
    settings: Settings, *, tools: ToolMode = "auto", warm_up: bool = True
) -> AsyncIterator[RunningAssistant]:
    """Load models and LLM, decide on tools, serve `ws://host:port/ws` until the block ends.

    Raises:
        pipelines.server.errors.ServerError: a model is missing or the LLM is unreachable.
    """

    from pipelines.server.app import ServerConfig, create_app, load_runtime, make_server

    # warm_up=False: the prompt is final only once tools are decided; we warm up below.
    runtime, llm_server = await load_runtime(settings=settings, warm_up=False)
    try:
        support = await decide_tools(tools, settings, runtime.llm)
        logger.info(f"tool {TOOL_NAME}: {'on' if support.enabled else 'off'} ({support.reason})")
        runtime.system_prompt = assistant_system_prompt(settings, tools_enabled=support.enabled)
        if warm_up:
            await asyncio.to_thread(runtime.models.warm_up)
            secs = await runtime.warm_up_llm()
            logger.info(f"LLM prompt cache warmed in {secs:.1f} s")
        config = ServerConfig.from_settings(
            settings, on_session=add_shop_tools if support.enabled else None)
        app = create_app(runtime, config)
        host, port = settings.server.host, settings.server.port
        server = make_server(app, host, port, config.limits)
        task = asyncio.create_task(server.serve(), name="voice-assistant-server")
        try:
            while not server.started:
                if task.done():
                    await task  # re-raises why uvicorn could not start
                    raise RuntimeError(
                        f"the server did not start on {host}:{port} "
                        "(port in use?)"
                    )
                await asyncio.sleep(0.05)
            yield RunningAssistant(
                url=f"ws://{host}:{port}/ws",
                tools=support,
                llm=runtime.llm,
                server=server,
                task=task,
            )
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError, SystemExit):
                await task
    finally:
        if runtime.avatar is not None:
            runtime.avatar.close()  # a background portrait fit ends with the server
        if llm_server is not None:
            await llm_server.astop()


async def ask_once(url: str, wav: Path, *, token: str | None = None,
                   timeout_s: float = 90.0) -> TalkResult:
    """Speak one WAV question to a running assistant with the SDK; return the exchange."""
    pcm, _rate = read_wav_pcm16(wav, target_rate=16000)
    async with await VoiceClient.connect(url, token=token, client_name="voice-assistant") as client:
        return await talk(client, pcm, timeout_secs=timeout_s)
