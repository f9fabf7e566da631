"""`avatar-forcing talk --wav question.wav [--out reply.wav]`: one spoken exchange.

Streams the WAV to a running server as if it were a live microphone (real-time
pace), prints every event as it arrives, and saves the bot's reply audio.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `talk` sub-command."""
    parser = subparsers.add_parser(
        "talk",
        help="speak a WAV file to a running server, print events, save the reply",
        description="Connect to an `avatar-forcing serve` server, stream WAV as live mic "
        "audio at real-time pace, print the protocol events, and save the bot's audio.",
    )
    parser.add_argument("--wav", type=Path, required=True, help="question (16-bit PCM WAV)")
    parser.add_argument("--out", type=Path, default=None, help="where to save the reply WAV")
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws", help="server websocket URL")
    parser.add_argument("--token", default=None, help="auth token, if the server has one")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the reply (default 60)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Talk once; exit 0 when the bot answered, 1 otherwise."""
    return asyncio.run(_talk(args))


async def _talk(args: argparse.Namespace) -> int:
    from pipelines.client import BotAudio, VoiceClient, read_wav_pcm16, talk
    from pipelines.errors import ClientError

    pcm, rate = read_wav_pcm16(args.wav, target_rate=16000)
    print(f"question: {args.wav} ({len(pcm) / 2 / rate:.2f} s)")

    def show(item: object) -> None:
        if isinstance(item, BotAudio):
            return
        fields = {k: v for k, v in vars(item).items() if k not in ("type", "ts")}
        detail = " ".join(f"{k}={v!r}" for k, v in fields.items())
        print(f"  <- {getattr(item, 'type', '?')} {detail}".rstrip(), flush=True)

    try:
        client = await VoiceClient.connect(args.url, token=args.token, client_name="talk-cli")
    except ClientError as error:
        print(f"avatar-forcing talk: error: {error}", file=sys.stderr)
        return 1
    async with client:
        print(f"session {client.welcome.session_id}: sending at {client.input_rate} Hz, "
              f"reply at {client.output_rate} Hz")
        result = await talk(client, pcm, timeout_secs=args.timeout, on_item=show)
    return result.report(args.out)
