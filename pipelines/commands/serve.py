"""`avatar-forcing serve [--host --port]`: the avatar agent server (protocol v2 on /ws)."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `serve` sub-command."""
    parser = subparsers.add_parser(
        "serve",
        help="run the avatar agent server (websocket /ws, health /healthz)",
        description="Load the bundled speech models, the avatar (portraits, generator) and "
        "start (or connect to) the LLM, then serve conversations over websockets with wire "
        "protocol v2 (docs/PROTOCOL.md): clients that ask for video get the live avatar, "
        "others a voice. Settings come from --config, AVATAR_FORCING_* env vars and these flags "
        "(every setting: docs/CONFIG.md).",
    )
    parser.add_argument("--config", type=Path, default=None, help="TOML/YAML settings file")
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8765)")
    parser.add_argument("--token", default=None,
                        help="shared auth token clients must send (default: none)")
    parser.add_argument("--tls-cert", type=Path, default=None,
                        help="TLS certificate chain, PEM (Let's Encrypt: fullchain.pem): serve "
                        "https:// and wss:// (with --tls-key; docs/FLEET.md)")
    parser.add_argument("--tls-key", type=Path, default=None,
                        help="the certificate's private key, PEM (Let's Encrypt: privkey.pem)")
    parser.add_argument("--max-sessions", type=int, default=None,
                        help="concurrent conversations (default 2)")
    parser.add_argument("--llm-base-url", default=None,
                        help="OpenAI-compatible endpoint; default starts the embedded LLM")
    parser.add_argument("--llm-model", default=None, help="model name at that endpoint")
    parser.add_argument("--no-video", action="store_true",
                        help="voice only: do not load the avatar, refuse no one (no video sent)")
    parser.add_argument("--portrait-dir", type=Path, default=None,
                        help="folder of portrait images clients may name (default: built-in)")
    parser.add_argument("--portrait", default=None,
                        help="default portrait: a file stem in --portrait-dir (grace_hopper)")
    parser.add_argument("--no-calibrate-portraits", action="store_true",
                        help="do not fit new portraits' own render calibration in the "
                        "background (default: each portrait shown is fitted once, at nice 19)")
    parser.add_argument("--no-warm-up", action="store_true",
                        help="skip the start-up warm-up (first reply will be slower)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Build settings, serve until interrupted."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pipelines.server.startup import begin_parts
    from pipelines.settings import Settings

    settings = Settings.load(
        args.config,
        server={"host": args.host, "port": args.port, "auth_token": args.token,
                "max_sessions": args.max_sessions, "tls_cert_file": args.tls_cert,
                "tls_key_file": args.tls_key},
        llm={"base_url": args.llm_base_url, "model": args.llm_model},
        avatar={"video": False if args.no_video else None, "portrait_dir": args.portrait_dir,
                "default_portrait": args.portrait,
                "calibrate_portraits": False if args.no_calibrate_portraits else None},
    )
    # the parts start loading now, beside the server's own imports (pipecat, FastAPI,
    # the sessions: seconds of the interpreter's lock): a restarted kiosk answers sooner;
    # their warm-up waits until it answers (run_server)
    begun = begin_parts(settings, warm_speech=False)
    from pipelines.server.app import run_server

    asyncio.run(run_server(settings, warm_up=not args.no_warm_up, begun=begun))
    return 0
