"""Async Python client SDK for wire protocol v1 (docs/PROTOCOL.md).

    async with await VoiceClient.connect("ws://127.0.0.1:8765/ws") as client:
        asyncio.create_task(client.stream_pcm(pcm16k))      # your mic, in real time
        async for item in client.receive():                 # events and bot audio
            if isinstance(item, BotAudio): play(item.pcm)
            elif item.type == "bot-output": print(item.text)

`talk()` does a whole question -> answer exchange from a WAV file (used by
`avatar-forcing talk`, the end-to-end tests and bench/voice_latency.py) and
times it on the client's own clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from pipelines.errors import ClientError, HandshakeError, ProtocolError
from pipelines.protocol import (
    PROTOCOL_VERSION,
    AudioFormat,
    BotOutput,
    ErrorEvent,
    Hello,
    MediaKind,
    UserTranscription,
    Welcome,
    decode_media,
    encode_media,
    encode_message,
    parse_server_message,
)


@dataclass(frozen=True)
class BotAudio:
    """A chunk of the bot's speech: PCM s16le mono at `sample_rate`, starting at `pts_us`."""

    pcm: bytes
    sample_rate: int
    pts_us: int
    received_at: float  # time.monotonic() when it arrived

    type: str = "bot-audio"

    @property
    def duration_secs(self) -> float:
        """Length of this chunk in seconds."""
        return len(self.pcm) / 2 / self.sample_rate


@dataclass(frozen=True)
class Closed:
    """The server closed the connection (last item `receive()` yields)."""

    code: int | None
    reason: str

    type: str = "closed"


ServerItem = BaseModel | BotAudio | Closed


class VoiceClient:
    """One protocol v1 session. Create with `await VoiceClient.connect(...)`."""

    def __init__(self, connection: ClientConnection, welcome: Welcome) -> None:
        """Use `connect()`; this wraps an already-greeted connection."""
        self._ws = connection
        self.welcome = welcome
        self._pts_samples = 0

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        sample_rate: int = 16000,
        token: str | None = None,
        client_name: str = "avatar-forcing-sdk",
        open_timeout: float = 10.0,
        busy_retry_secs: float = 0.0,
    ) -> VoiceClient:
        """Open the websocket, send `hello`, and wait for `welcome`.

        With `busy_retry_secs` > 0 a `server_busy` refusal is retried every 0.5 s
        for that long (a kiosk waits for a slot rather than failing).

        Raises:
            HandshakeError: the server answered with an error event (bad token,
                busy, unsupported rate, ...) or did not answer.
            ClientError: the server cannot be reached.
        """
        deadline = time.monotonic() + busy_retry_secs
        while True:
            try:
                return await cls._connect_once(url, sample_rate, token, client_name, open_timeout)
            except HandshakeError as error:
                if error.code != "server_busy" or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(0.5)

    @classmethod
    async def _connect_once(
        cls, url: str, sample_rate: int, token: str | None, client_name: str, open_timeout: float
    ) -> VoiceClient:
        """One connection attempt: websocket, `hello`, `welcome`."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            connection = await ws_connect(
                url, additional_headers=headers, open_timeout=open_timeout, max_size=2**22
            )
        except (OSError, TimeoutError) as error:
            raise ClientError(f"cannot connect to {url}: {error}") from error
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            audio_in=AudioFormat(sample_rate=sample_rate),
            client=client_name,
        )
        try:
            await connection.send(encode_message(hello))
            reply = await asyncio.wait_for(connection.recv(), timeout=open_timeout)
        except (ConnectionClosed, TimeoutError) as error:
            await connection.close()
            raise HandshakeError("no_welcome", f"no welcome from {url}: {error}") from error
        message = parse_server_message(reply) if isinstance(reply, str) else None
        if isinstance(message, ErrorEvent):
            await connection.close()
            raise HandshakeError(message.code, message.message)
        if not isinstance(message, Welcome):
            await connection.close()
            raise HandshakeError("no_welcome", f"expected welcome, got {reply!r:.200}")
        return cls(connection, message)

    async def __aenter__(self) -> VoiceClient:
        """`async with` support: the connection closes on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection."""
        await self.close()

    @property
    def input_rate(self) -> int:
        """Sample rate of the audio this client sends."""
        return self.welcome.audio_in.sample_rate

    @property
    def output_rate(self) -> int:
        """Sample rate of the bot audio the server sends."""
        return self.welcome.audio_out.sample_rate

    async def send_audio(self, pcm: bytes) -> None:
        """Send one chunk of PCM s16le mono at `input_rate` (keep chunks 20-100 ms)."""
        pts_us = self._pts_samples * 1_000_000 // self.input_rate
        self._pts_samples += len(pcm) // 2
        await self._ws.send(encode_media(MediaKind.AUDIO, pcm, pts_us))

    async def send_raw(self, data: str | bytes) -> None:
        """Send an arbitrary message (tests use it to check the server's error handling)."""
        await self._ws.send(data)

    async def ping(self, ping_id: str | int | None = None) -> None:
        """Send a protocol `ping`; the server answers `pong`."""
        await self._ws.send(encode_message(_Ping(id=ping_id)))

    async def stream_pcm(
        self, pcm: bytes, *, chunk_ms: int = 20, realtime: bool = True
    ) -> float:
        """Send `pcm` in chunks paced like a live microphone; returns when the last one left.

        Returns:
            time.monotonic() at which the last chunk was sent.
        """
        step = self.input_rate * chunk_ms // 1000 * 2
        started = time.monotonic()
        sent_secs = 0.0
        for offset in range(0, len(pcm), step):
            chunk = pcm[offset : offset + step]
            await self.send_audio(chunk)
            sent_secs += len(chunk) / 2 / self.input_rate
            if realtime:
                delay = started + sent_secs - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        return time.monotonic()

    async def receive(self) -> AsyncIterator[ServerItem]:
        """Yield server events (pydantic models) and `BotAudio` until the socket closes."""
        while True:
            try:
                data = await self._ws.recv()
            except ConnectionClosed as closed:
                rcvd = closed.rcvd
                yield Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "")
                return
            if isinstance(data, bytes):
                chunk = decode_media(data)
                if chunk.kind is MediaKind.AUDIO:
                    yield BotAudio(chunk.payload, self.output_rate, chunk.pts_us, time.monotonic())
                continue  # video arrives in a later protocol revision
            try:
                yield parse_server_message(data)
            except ProtocolError:
                continue  # an event type newer than this SDK: skip, stay compatible

    async def close(self) -> None:
        """Close the websocket (idempotent)."""
        with contextlib.suppress(Exception):
            await self._ws.close()


class _Ping(BaseModel):
    type: str = "ping"
    id: str | int | None = None


# --------------------------------------------------------------------------- WAV helpers


def read_wav_pcm16(path: Path, *, target_rate: int | None = None) -> tuple[bytes, int]:
    """Read a WAV as mono PCM s16le; resample to `target_rate` when given.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a PCM WAV file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"WAV file not found: {path}")
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{path} is not a PCM WAV file: {error}") from error
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV is supported (got {8 * width}-bit)")
    samples = np.frombuffer(frames, dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    if target_rate is not None and target_rate != rate:
        import soxr

        samples = soxr.resample(samples, rate, target_rate).astype(np.int16)
        rate = target_rate
    return samples.tobytes(), rate


def write_wav_pcm16(path: Path, pcm: bytes, sample_rate: int) -> None:
    """Write mono PCM s16le as a WAV file (creating parent folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)


# --------------------------------------------------------------------------- one exchange


@dataclass
class TalkResult:
    """Everything one question -> answer exchange produced, on the client's clock."""

    events: list[BaseModel] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    sample_rate: int = 0
    speech_end_at: float | None = None  # monotonic time the last speech sample was sent
    first_audio_at: float | None = None  # monotonic time the first reply audio arrived
    completed: bool = False  # the bot finished speaking (vs timeout / close)

    @property
    def transcript(self) -> str:
        """What the server heard (all `user-transcription` texts of this exchange)."""
        return " ".join(e.text for e in self.events if isinstance(e, UserTranscription))

    @property
    def reply_text(self) -> str:
        """What the bot said (all `bot-output` texts)."""
        return " ".join(e.text for e in self.events if isinstance(e, BotOutput))

    @property
    def voice_to_voice_ms(self) -> float | None:
        """End of the user's speech -> first reply audio byte at the client."""
        if self.speech_end_at is None or self.first_audio_at is None:
            return None
        return (self.first_audio_at - self.speech_end_at) * 1000.0

    def report(self, out: Path | None = None) -> int:
        """Print what was heard and said (and save the reply audio to `out`).

        The one summary both `avatar-forcing talk` and the examples print;
        returns a process exit code: 0 when the bot finished its reply.
        """
        reply_secs = len(self.audio) / 2 / max(self.sample_rate, 1)
        print(f"heard: {self.transcript!r}")
        print(f"reply: {self.reply_text!r} ({reply_secs:.2f} s of audio)")
        if self.voice_to_voice_ms is not None:
            print(f"voice-to-voice: {self.voice_to_voice_ms:.0f} ms")
        if out is not None and self.audio:
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
) -> TalkResult:
    """Speak `pcm` (at the client's input rate) like a live mic, collect the reply.

    Silence keeps streaming after the speech (a real mic never stops) until the
    bot stops speaking or `timeout_secs` pass.

    Args:
        client: a connected client.
        pcm: the user's utterance, PCM s16le mono at `client.input_rate`.
        speech_end_secs: where speech ends inside `pcm` (default: its end); the
            voice-to-voice latency is measured from that instant.
        timeout_secs: give up waiting for the reply after this long.
        on_item: optional callback for every received item (the CLI prints events).
    """
    result = TalkResult(sample_rate=client.output_rate)
    rate = client.input_rate
    silence_chunk = bytes(rate * 2 // 50)  # 20 ms
    done = asyncio.Event()

    async def speak() -> None:
        started = time.monotonic()
        await client.stream_pcm(pcm)
        end = len(pcm) / 2 / rate if speech_end_secs is None else speech_end_secs
        result.speech_end_at = started + end
        # keep the "mic" open with silence until the reply is over
        deadline = time.monotonic() + timeout_secs
        next_at = time.monotonic()
        while not done.is_set() and time.monotonic() < deadline:
            await client.send_audio(silence_chunk)
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def listen() -> None:
        bot_spoke = False
        async for item in client.receive():
            if on_item is not None:
                on_item(item)
            if isinstance(item, BotAudio):
                if result.first_audio_at is None and result.speech_end_at is not None:
                    result.first_audio_at = item.received_at
                result.audio.extend(item.pcm)
                continue
            if isinstance(item, Closed):
                break
            result.events.append(item)
            kind = getattr(item, "type", "")
            if kind == "bot-started-speaking":
                bot_spoke = True
            elif kind == "bot-stopped-speaking" and bot_spoke:
                result.completed = True
                break
            elif isinstance(item, ErrorEvent) and item.fatal:
                break
        done.set()

    speaker = asyncio.create_task(speak())
    try:
        await asyncio.wait_for(listen(), timeout=timeout_secs + len(pcm) / 2 / rate)
    except TimeoutError:
        pass
    finally:
        done.set()
        speaker.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await speaker
    return result
