"""`avatar-forcing talk --wav q.wav [--video me.mp4] [--out reply.mp4|reply.wav]`: one exchange.

Streams the WAV to a running server as if it were a live microphone (real-time
pace), prints every event as it arrives, and saves the bot's reply. With
`--out *.mp4`, `--video` or `--portrait` it asks for the live avatar (protocol
v2): `--video` is sent as the user's camera (looped, like a webcam) and the
reply is saved as an mp4 with the avatar's video and audio in sync.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sdk.protocol import VIDEO_SIZES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `talk` sub-command."""
    parser = subparsers.add_parser(
        "talk",
        help="speak a WAV file to a running server, print events, save the reply (wav or mp4)",
        description="Connect to an `avatar-forcing serve` server, stream WAV as live mic "
        "audio at real-time pace, print the protocol events, and save the bot's audio, or "
        "its audio and avatar video as an mp4.",
    )
    parser.add_argument("--wav", type=Path, required=True, help="question (16-bit PCM WAV)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to save the reply: .wav (audio) or .mp4 (avatar video)")
    parser.add_argument("--video", type=Path, default=None,
                        help="a clip of the user sent as the camera while talking (looped)")
    parser.add_argument("--size", type=int, default=512, choices=VIDEO_SIZES,
                        help="avatar video size in pixels (square; default 512)")
    parser.add_argument("--portrait", default=None,
                        help="name of the server portrait to animate (default: the server's)")
    parser.add_argument("--url", default="ws://127.0.0.1:8765/ws", help="server websocket URL")
    parser.add_argument("--token", default=None, help="auth token, if the server has one")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds to wait for the reply (default 60)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Talk once; exit 0 when the bot answered, 1 otherwise."""
    return asyncio.run(_talk(args))


def wants_video(args: argparse.Namespace) -> bool:
    """Ask for the avatar when the output is a video, a camera clip is sent or a portrait named."""
    out_is_video = args.out is not None and args.out.suffix.lower() == ".mp4"
    return out_is_video or args.video is not None or args.portrait is not None


async def _talk(args: argparse.Namespace) -> int:
    from sdk.client import VoiceClient
    from sdk.errors import ClientError
    from sdk.items import BotAudio, BotVideo
    from sdk.media import read_wav_pcm16
    from sdk.protocol import VideoOutRequest
    from sdk.talk import talk

    pcm, rate = read_wav_pcm16(args.wav, target_rate=16000)
    print(f"question: {args.wav} ({len(pcm) / 2 / rate:.2f} s)")
    if args.video is not None:
        from avatar.video_io import probe_video

        info = probe_video(args.video)  # a bad clip fails before connecting
        print(f"camera: {args.video} ({info.width}x{info.height}, {info.duration_s:.1f} s, looped)")
    video = wants_video(args)

    def show(item: object) -> None:
        if isinstance(item, BotAudio | BotVideo):
            return
        fields = {k: v for k, v in vars(item).items() if k not in ("type", "ts")}
        detail = " ".join(f"{k}={v!r}" for k, v in fields.items())
        print(f"  <- {getattr(item, 'type', '?')} {detail}".rstrip(), flush=True)

    try:
        client = await VoiceClient.connect(
            args.url, token=args.token, client_name="talk-cli",
            video_out=VideoOutRequest(size=args.size) if video else None,
            video_in="camera" if args.video is not None else None,
            portrait=args.portrait,
        )
    except ClientError as error:
        print(f"avatar-forcing talk: error: {error}", file=sys.stderr)
        return 1
    async with client:
        print(f"session {client.welcome.session_id}: sending at {client.input_rate} Hz, "
              f"reply at {client.output_rate} Hz")
        if video and client.video_out is None:
            print("the server sends no video (audio-only server or protocol 1)")
        elif client.video_out is not None:
            out = client.video_out
            print(f"avatar video: {out.get('width')}x{out.get('height')} at {out.get('fps')} fps "
                  f"({out.get('codec')}), portrait {out.get('portrait')!r}")
        result = await talk(client, pcm, timeout_secs=args.timeout, on_item=show,
                            video_path=args.video)
    return result.report(args.out)
