"""`avatar-forcing converse --user-video CLIP.mp4 --out OUT.mp4`: one recorded exchange.

The clip's face and voice go through the live avatar session offline (see
pipelines/offline/converse.py): the avatar listens, the speech is transcribed, the LLM
(or `--reply TEXT`) answers, piper speaks it and the avatar says it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sdk.protocol import VIDEO_SIZES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `converse` sub-command."""
    parser = subparsers.add_parser(
        "converse",
        help="play a recorded user clip (face + voice) to the avatar offline; write its answer",
        description="Run a face video with the user's voice through the same avatar session "
        "as the live server, as fast as the CPU allows: the avatar listens to the voice and "
        "watches the face, then answers (whisper -> LLM -> piper, or --reply TEXT). Writes "
        "an mp4 with both voices and a PNG contact sheet beside it. LLM settings come from "
        "--config, AVATAR_FORCING_* env vars and these flags, as for `serve`.",
    )
    parser.add_argument("--user-video", type=Path, required=True,
                        help="the user's clip: a face video with their voice in its audio")
    parser.add_argument("--out", type=Path, required=True, help="output video (.mp4)")
    parser.add_argument("--portrait", type=Path, default=None,
                        help="portrait image (default: the settings' default portrait)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="write user clip | avatar instead of the avatar alone")
    parser.add_argument("--reply", default=None,
                        help="what the avatar answers (skips the LLM)")
    parser.add_argument("--config", type=Path, default=None,
                        help="TOML/YAML settings file (persona, knowledge, LLM, portraits)")
    parser.add_argument("--llm-base-url", default=None,
                        help="OpenAI-compatible endpoint; default starts the embedded LLM")
    parser.add_argument("--llm-model", default=None, help="model name at that endpoint")
    parser.add_argument("--size", type=int, choices=VIDEO_SIZES, default=512,
                        help="avatar video size in pixels (square; default 512)")
    parser.add_argument("--turn-gap", type=float, default=0.5,
                        help="seconds from the end of the user's speech to the reply (0.5)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="generator checkpoint (default: the shipped 1-step student)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Converse once and print a summary; exit 1 with one line when the LLM fails."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from agent.errors import AgentError
    from avatar.errors import AvatarError
    from pipelines.offline.converse import converse
    from pipelines.offline.exchange import ConverseOptions
    from pipelines.settings import Settings

    options = ConverseOptions(size=args.size, side_by_side=args.side_by_side,
                              turn_gap_secs=args.turn_gap, seed=args.seed,
                              progress=not args.quiet)
    settings = Settings.load(args.config,
                             llm={"base_url": args.llm_base_url, "model": args.llm_model})
    try:
        result = converse(args.user_video, args.out, settings=settings, portrait=args.portrait,
                          reply_text=args.reply, checkpoint=args.checkpoint, options=options)
    except (AgentError, AvatarError) as error:  # the LLM, or a portrait name not in the folder
        print(f"avatar-forcing converse: error: {error}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0
