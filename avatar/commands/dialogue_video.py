"""`avatar-forcing dialogue-video`: render user | avatar for a held-out dialogue."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `dialogue-video` sub-command."""
    parser = subparsers.add_parser(
        "dialogue-video",
        help="render a corpus dialogue side by side: the user and the generated avatar",
        description="Stream one dialogue of a corpus split through the generator (the "
        "avatar's speech + the user's audio and motion) and render user | avatar with "
        "both voices to an mp4, plus a PNG contact sheet beside it.",
    )
    parser.add_argument("--corpus", type=Path, default=Path("data/corpus"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--dialogue", type=int, default=0, help="index within the split")
    parser.add_argument("--role", choices=("a", "b"), default="a",
                        help="which side of the dialogue plays the avatar")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="generator checkpoint (default: the shipped 1-step student)")
    parser.add_argument("--portrait", type=Path, default=None)
    parser.add_argument("--size", type=int, choices=(256, 512), default=256)
    parser.add_argument("--out", type=Path, required=True, help="output .mp4")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the session, generate, render; print where the files went."""
    from avatar.dialogue_video import generate_avatar_motion, render_dialogue_video
    from avatar.evaluate import load_sessions
    from avatar.portrait import Portrait, default_portrait_path

    if args.dialogue < 0:
        raise ValueError(f"--dialogue must be >= 0, got {args.dialogue}")
    sessions = load_sessions(args.corpus, args.split, max_seconds=args.seconds,
                             max_dialogues=args.dialogue + 1)
    wanted = [s for s in sessions if s.name.endswith(f"/{args.role}")]
    if len(wanted) <= args.dialogue:
        raise ValueError(f"split {args.split!r} of {args.corpus} has no dialogue {args.dialogue}")
    session = wanted[args.dialogue]
    portrait = Portrait.load(args.portrait or default_portrait_path(), size=args.size)
    motion = generate_avatar_motion(session, args.checkpoint)
    result = render_dialogue_video(session, motion, portrait, args.out, size=args.size)
    print(f"{session.name}: {result.frames} frames -> {result.video} (sheet {result.sheet})")
    return 0
