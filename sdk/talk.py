"""One scripted question -> answer exchange, timed on the client's own clock.

`talk()` speaks a WAV file's PCM like a live mic and collects the reply (used
by `avatar-forcing talk`, the end-to-end tests and the latency benchmarks);
`TalkResult` measures it and `TalkResult.save_av()` muxes the received audio
and video into an mp4.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel
from websockets.exceptions import ConnectionClosed

from sdk.client import VoiceClient
from sdk.connection import DEFAULT_VIDEO_FPS
from sdk.events import BotOutput, ErrorEvent, PortraitEvent, UserTranscription
from sdk.items import BotAudio, BotMotion, BotVideo, Closed
from sdk.media import DEFAULT_CAMERA_FPS, write_wav_pcm16
from sdk.reconnect import SessionRestarted


@dataclass
class TalkResult:
    """Everything one question -> answer exchange produced, on the client's clock."""

    events: list[BaseModel] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    sample_rate: int = 0
    speech_end_at: float | None = None  # monotonic time the last speech sample was sent
    first_audio_at: float | None = None  # monotonic time the first reply audio arrived
    completed: bool = False  # the bot finished speaking (vs timeout / close)
    #: Avatar frames received (video sessions), in arrival order.
    video: list[BotVideo] = field(default_factory=list)
    #: pts of the first audio chunk in `audio`: where the video's pts are measured from.
    audio_start_pts_us: int | None = None
    #: `welcome.video_out` of the session (None: audio only).
    video_out: dict[str, Any] | None = None
    #: the connection dropped and a new session took over (`connect(reconnect=...)`):
    #: this exchange was cut, the new session never heard the question
    restarted: SessionRestarted | None = None
    #: index in `events` where the reply begins: after the last `bot-interrupted` (a reply
    #: begun at a pause inside the question and stopped by the rest of it is not the reply)
    reply_from: int = 0

    @property
    def transcript(self) -> str:
        """What the server heard (the final `user-transcription` texts of this exchange;
        the live captions before them are left out)."""
        return " ".join(e.text for e in self.events
                        if isinstance(e, UserTranscription) and e.final)

    @property
    def reply_text(self) -> str:
        """What the bot said in its reply (the `bot-output` texts after the last
        interruption)."""
        return " ".join(e.text for e in self.events[self.reply_from:]
                        if isinstance(e, BotOutput))

    @property
    def voice_to_voice_ms(self) -> float | None:
        """End of the user's speech -> first reply audio byte at the client."""
        if self.speech_end_at is None or self.first_audio_at is None:
            return None
        return (self.first_audio_at - self.speech_end_at) * 1000.0

    @property
    def audio_secs(self) -> float:
        """Seconds of audio received (in a video session: silence included)."""
        return len(self.audio) / 2 / max(self.sample_rate, 1)

    @property
    def video_fps(self) -> float:
        """Frames received per second of audio received (25 when the server keeps up)."""
        return len(self.video) / self.audio_secs if self.audio else 0.0

    @property
    def nominal_fps(self) -> float:
        """The frame rate the server announced (`welcome.video_out.fps`, else 25)."""
        return float((self.video_out or {}).get("fps", DEFAULT_VIDEO_FPS))

    @property
    def portrait(self) -> str | None:
        """The portrait animated last (its `portrait` event, else the welcome's)."""
        named = [e.name for e in self.events if isinstance(e, PortraitEvent)]
        if named:
            return named[-1]
        value = (self.video_out or {}).get("portrait")
        return None if value is None else str(value)

    def frame_schedule(self) -> list[BotVideo]:
        """The video as the output frames of a file: frame k is the one at pts k/fps.

        Frame k shows the received frame whose pts is k frame periods after the
        first audio sample (`audio_start_pts_us`): where the server's frame is
        missing the previous one is repeated, a second frame for the same pts is
        dropped, and the length follows the audio (ceil), so the mp4's picture
        and sound stay in sync however the frames arrived.
        """
        if not self.video:
            return []
        fps = self.nominal_fps
        start = (self.audio_start_pts_us if self.audio_start_pts_us is not None
                 else min(v.pts_us for v in self.video))
        slots: dict[int, BotVideo] = {}
        for frame in self.video:
            slots.setdefault(round((frame.pts_us - start) * fps / 1_000_000), frame)
        samples = len(self.audio) // 2
        if samples and self.sample_rate:
            count = math.ceil(samples * fps / self.sample_rate - 1e-6)
        else:
            count = max(slots) + 1
        ordered = sorted(slots.items())
        schedule: list[BotVideo] = []
        current = ordered[0][1]  # before the first frame's slot: show the first frame
        i = 0
        for k in range(count):
            while i < len(ordered) and ordered[i][0] <= k:
                current = ordered[i][1]
                i += 1
            schedule.append(current)
        return schedule

    def save_av(self, path: str | os.PathLike[str]) -> int:
        """Write the received audio and video, in sync, as an mp4 (H.264 + AAC).

        Returns:
            The number of video frames written (`frame_schedule()`).

        Raises:
            ValueError: no video was received (connect with `video_out`), or a
                frame does not decode.
        """
        import cv2

        from avatar.video_io import VideoWriter

        schedule = self.frame_schedule()
        if not schedule:
            raise ValueError("no avatar video was received: connect with video_out=True "
                             "to get some (or save the audio with write_wav_pcm16)")
        first = schedule[0].rgb()
        # the server may change the frame size mid-session (`video-quality`): the file
        # takes the size asked for, and frames of another size are resized to it
        edge = int((self.video_out or {}).get("requested_size") or first.shape[1])
        height, width = (edge, edge) if first.shape[0] == first.shape[1] else first.shape[:2]
        height, width = height // 2 * 2, width // 2 * 2  # encoders want even
        audio = np.frombuffer(bytes(self.audio), dtype=np.int16) if self.audio else None
        previous: BotVideo | None = None
        image = first
        with VideoWriter(Path(path), self.nominal_fps, (width, height), audio,
                         self.sample_rate or 16_000) as writer:
            for frame in schedule:
                if frame is not previous:  # a repeated frame is decoded once
                    image = frame.rgb()
                    if image.shape[:2] != (height, width):
                        image = (image[:height, :width] if image.shape[0] - height < 2
                                 and image.shape[1] - width < 2
                                 else cv2.resize(image, (width, height)))
                    previous = frame
                writer.write(np.ascontiguousarray(image))
            return writer.frames_written

    def report(self, out: Path | None = None) -> int:
        """Print what was heard and said (and save the reply to `out`: mp4 or WAV).

        The one summary both `avatar-forcing talk` and the examples print;
        returns a process exit code: 0 when the bot finished its reply. An `out`
        ending in .mp4 gets the audio and video muxed; without video it falls
        back to a WAV beside it.
        """
        print(f"heard: {self.transcript!r}")
        print(f"reply: {self.reply_text!r} ({self.audio_secs:.2f} s of audio)")
        if self.voice_to_voice_ms is not None:
            print(f"voice-to-voice: {self.voice_to_voice_ms:.0f} ms")
        if self.video or self.video_out is not None:
            size = self.video_out or {}
            print(f"video: {len(self.video)} frames, {self.video_fps:.1f} fps "
                  f"(per second of audio), {size.get('width', '?')}x{size.get('height', '?')}, "
                  f"portrait {self.portrait!r}")
        if out is not None and (self.audio or self.video):
            out = Path(out)
            if out.suffix.lower() == ".mp4" and self.video:
                frames = self.save_av(out)
                print(f"saved {out} ({frames} frames at {self.nominal_fps:g} fps)")
            elif self.audio:
                if out.suffix.lower() == ".mp4":
                    out = out.with_suffix(".wav")
                    print("no video received: saving the audio only")
                write_wav_pcm16(out, bytes(self.audio), self.sample_rate)
                print(f"saved {out}")
        return 0 if self.completed else 1

    def metrics(self, processor_prefix: str, kind: str) -> list[float]:
        """`metrics` event values (ms) whose processor name starts with `processor_prefix`."""
        return [
            float(getattr(e, "value_ms", 0.0))
            for e in self.events
            if getattr(e, "type", "") == "metrics"
            and getattr(e, "kind", "") == kind
            and str(getattr(e, "processor", "")).startswith(processor_prefix)
        ]


async def talk(
    client: VoiceClient,
    pcm: bytes,
    *,
    speech_end_secs: float | None = None,
    timeout_secs: float = 60.0,
    on_item: Any = None,
    video_path: Path | None = None,
    camera_fps: float = DEFAULT_CAMERA_FPS,
    tail_secs: float = 0.4,
) -> TalkResult:
    """Speak `pcm` (at the client's input rate) like a live mic, collect the reply.

    Silence keeps streaming after the speech (a real mic never stops) until the
    bot stops speaking or `timeout_secs` pass.

    In a video session the server's audio never stops (silence while the avatar
    listens), so the reply's first audio is its first non-silent chunk, and
    `tail_secs` more audio (and video) are kept after `bot-stopped-speaking` so
    a saved clip does not end mid-frame.

    Args:
        client: a connected client.
        pcm: the user's utterance, PCM s16le mono at `client.input_rate`.
        speech_end_secs: where speech ends inside `pcm` (default: its end); the
            voice-to-voice latency is measured from that instant.
        timeout_secs: give up waiting for the reply after this long.
        on_item: optional callback for every received item (the CLI prints events).
        video_path: a clip of the user to send as the camera while speaking and
            after (looped if shorter); needs a client with `video_in="camera"`.
        camera_fps: frames per second sent from `video_path`.
        tail_secs: audio to keep after `bot-stopped-speaking` in a video session.
    """
    if video_path is not None:
        from avatar.video_io import probe_video

        client._require_video_in("talk(video_path=...)")
        probe_video(video_path)  # a missing or broken clip fails before anything is sent
    continuous = client.video_out is not None  # the server sends audio all the time
    result = TalkResult(sample_rate=client.output_rate, video_out=client.video_out)
    rate = client.input_rate
    done = asyncio.Event()

    async def speak() -> None:
        started = time.monotonic()
        await client.stream_pcm(pcm)
        end = len(pcm) / 2 / rate if speech_end_secs is None else speech_end_secs
        result.speech_end_at = started + end
        # keep the "mic" open with silence until the reply is over
        await client.send_silence_until(done, timeout_secs=timeout_secs)

    async def listen() -> None:
        bot_spoke = False
        stop_at_bytes: int | None = None  # after bot-stopped-speaking: the tail's end
        async for item in client.receive():
            if on_item is not None:
                on_item(item)
            if isinstance(item, BotVideo):
                result.video.append(item)
                continue
            if isinstance(item, BotAudio):
                if result.audio_start_pts_us is None:
                    result.audio_start_pts_us = item.pts_us
                if (result.first_audio_at is None and result.speech_end_at is not None
                        and (not continuous or item.pcm.strip(b"\x00"))):
                    result.first_audio_at = item.received_at
                result.audio.extend(item.pcm)
                if stop_at_bytes is not None and len(result.audio) >= stop_at_bytes:
                    break
                continue
            if isinstance(item, BotMotion):  # a connection that draws: not talk()'s to keep
                continue
            if isinstance(item, Closed):
                break
            if isinstance(item, SessionRestarted):
                result.restarted = item
                break
            result.events.append(item)
            kind = getattr(item, "type", "")
            if kind == "bot-started-speaking":
                bot_spoke = True
                # the voice stopped and went on within the tail (a busy machine's stall
                # mid-sentence): the reply is not over
                result.completed, stop_at_bytes = False, None
            elif kind == "bot-interrupted" and not result.completed:
                # the visitor went on speaking over a reply begun at a pause in the question:
                # the reply to collect is the one after it (its voice and its timing too)
                bot_spoke, stop_at_bytes = False, None
                result.reply_from, result.first_audio_at = len(result.events), None
            elif kind == "bot-stopped-speaking" and bot_spoke and not result.completed:
                result.completed = True
                if not continuous or tail_secs <= 0:
                    break
                stop_at_bytes = len(result.audio) + 2 * round(tail_secs * result.sample_rate)
            elif isinstance(item, ErrorEvent) and item.fatal:
                break
        done.set()

    speaker = asyncio.create_task(speak())
    camera = (asyncio.create_task(client.stream_video_file(video_path, fps=camera_fps, loop=True))
              if video_path is not None else None)
    try:
        await asyncio.wait_for(listen(), timeout=timeout_secs + len(pcm) / 2 / rate + tail_secs)
    except TimeoutError:
        pass
    finally:
        done.set()
        for task in (speaker, camera):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
    return result
