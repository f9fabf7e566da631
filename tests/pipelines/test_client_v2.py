"""Client SDK for protocol v2 without the avatar server: media decoding, camera
encoding, the frame schedule and mp4 muxing of `TalkResult`, and one exchange
against a loopback peer that checks every client message with the real
`ProtocolSession` and answers the way a v2 video server does (each 40 ms: one
JPEG, then the audio chunk with the same pts).

Images are real photos (matplotlib's Grace Hopper), clips are encoded with PyAV.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve

from avatar.portrait import default_portrait_path, read_image
from avatar.video_io import VideoWriter, iter_frames, probe_video, read_audio
from pipelines.wire.protocol_session import (
    AudioInput,
    CameraJpegInput,
    MotionInput,
    Parsed,
    PortraitUpload,
    ProtocolSession,
)
from sdk.camera_hold import CameraHold
from sdk.client import VoiceClient
from sdk.errors import ProtocolError
from sdk.handshake import build_hello
from sdk.images import encode_camera_jpeg
from sdk.items import BotAudio, BotVideo, parse_item
from sdk.protocol import (
    AudioFormat,
    Hello,
    Limits,
    MediaKind,
    SetPortrait,
    Welcome,
    encode_media,
    encode_message,
)
from sdk.talk import TalkResult, talk

RATE_OUT = 22050
CHUNK = 882  # samples of bot audio per 40 ms video frame at 22,050 Hz
FRAME_US = 40_000


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """Grace Hopper, (600, 512, 3) uint8 RGB."""
    return read_image(default_portrait_path())


def square(photo: np.ndarray, size: int = 256) -> np.ndarray:
    """The photo's top square (her face) at `size` x `size`."""
    side = min(photo.shape[:2])
    return cv2.resize(photo[:side, :side], (size, size), interpolation=cv2.INTER_AREA)


def jpeg_of(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def banded(photo: np.ndarray, level: int) -> np.ndarray:
    """The square photo with a flat grey band on top: its level identifies the frame."""
    frame = square(photo).copy()
    frame[:32] = level
    return frame


def band_level(frame: np.ndarray) -> float:
    return float(frame[4:28, 8:-8].mean())


def tone(samples: int, hz: float = 440.0, rate: int = RATE_OUT) -> bytes:
    t = np.arange(samples) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16).tobytes()


# --------------------------------------------------------------------------- receiving


def test_video_message_becomes_bot_video_that_decodes_to_rgb(photo: np.ndarray) -> None:
    face = square(photo)
    jpeg = jpeg_of(face)
    item = parse_item(encode_media(MediaKind.VIDEO, jpeg, pts_us=1_240_000),
                      output_rate=RATE_OUT, received_at=12.5)
    assert isinstance(item, BotVideo)
    assert (item.jpeg, item.pts_us, item.received_at, item.type) == (
        jpeg, 1_240_000, 12.5, "bot-video")
    rgb = item.rgb()
    assert rgb.shape == (256, 256, 3) and rgb.dtype == np.uint8
    # RGB order, not OpenCV's BGR: the decoded frame matches the original closely
    assert float(np.abs(rgb.astype(float) - face.astype(float)).mean()) < 4.0
    with pytest.raises(ValueError, match="not a decodable image"):
        BotVideo(b"\xff\xd8\xffnot really", 0, 0.0).rgb()


def test_audio_message_becomes_bot_audio_at_the_output_rate() -> None:
    pcm = tone(CHUNK)
    item = parse_item(encode_media(MediaKind.AUDIO, pcm, pts_us=80_000), output_rate=RATE_OUT)
    assert isinstance(item, BotAudio)
    assert (item.pcm, item.sample_rate, item.pts_us) == (pcm, RATE_OUT, 80_000)
    assert item.duration_secs == pytest.approx(0.04)


@pytest.mark.parametrize("data", [
    encode_media(MediaKind.CAMERA, b"\xff\xd8\xff"),  # client -> server kinds
    encode_media(MediaKind.MOTION, b""),
    encode_media(MediaKind.PORTRAIT, b"\x89PNG"),
    bytes([9, 0, 0, 0]) + bytes(8) + b"a kind from the future",
    bytes([255]) + bytes(11),
    b"\x02\x00",  # shorter than the header
    encode_media(MediaKind.AUDIO, b"\x00\x01\x02"),  # not whole samples
    json.dumps({"type": "avatar-gesture-from-v3", "name": "wave"}),
    "not json",
])
def test_unknown_media_kinds_and_events_are_skipped_not_raised(data: str | bytes) -> None:
    assert parse_item(data, output_rate=RATE_OUT) is None


def test_known_events_still_parse() -> None:
    item = parse_item('{"type": "portrait", "name": "grace"}', output_rate=RATE_OUT)
    assert getattr(item, "name", None) == "grace"
    metrics = parse_item('{"type": "metrics", "kind": "avatar", "processor": "avatar", '
                         '"values": {"frames": 25, "late": 0}}', output_rate=RATE_OUT)
    assert getattr(metrics, "values", None) == {"frames": 25, "late": 0}


# --------------------------------------------------------------------------- hello


def test_default_hello_is_protocol_2_audio_only() -> None:
    hello = build_hello(2, 16000, "sdk", None, None, None)
    wire = json.loads(encode_message(hello))
    assert wire == {"type": "hello", "protocol": 2, "client": "sdk",
                    "audio_in": {"sample_rate": 16000, "channels": 1, "encoding": "pcm_s16le"}}
    session = ProtocolSession()
    parsed = session.receive(encode_message(hello))
    assert isinstance(parsed, Hello) and parsed.video_out is None


@pytest.mark.parametrize(("video_out", "size"), [(True, 512), ({"size": 384}, 384),
                                                 ({"size": 256, "fps": 25}, 256)])
def test_video_hello_asks_for_size_camera_and_portrait(video_out: Any, size: int) -> None:
    hello = build_hello(2, 16000, "sdk", video_out, "camera", "grace")
    parsed = ProtocolSession().receive(encode_message(hello))
    assert isinstance(parsed, Hello)
    assert parsed.video_out is not None and parsed.video_out.size == size
    assert parsed.video_in is not None and parsed.video_in.kind == "camera"
    assert parsed.portrait == "grace"


@pytest.mark.parametrize(("args", "message"), [
    ((1, 16000, "sdk", True, None, None), "need protocol 2"),
    ((3, 16000, "sdk", None, None, None), "protocol must be one of"),
    ((2, 16000, "sdk", {"size": 1024}, None, None), "bad video_out"),
    ((2, 16000, "sdk", "big", None, None), "video_out must be"),
    ((2, 16000, "sdk", True, "screen", None), "video_in must be"),
])
def test_bad_connect_arguments_fail_before_any_io(args: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_hello(*args)


# --------------------------------------------------------------------------- camera encoding


def test_camera_frame_is_resized_keeping_aspect_and_stays_small(photo: np.ndarray) -> None:
    jpeg = encode_camera_jpeg(photo)  # 512 x 600 photo -> 320 wide
    assert jpeg.startswith(b"\xff\xd8\xff")
    decoded = BotVideo(jpeg, 0, 0.0).rgb()
    assert decoded.shape == (375, 320, 3)
    assert len(jpeg) < 40_000  # a camera frame is ~10-30 KiB, far below max_image_bytes
    wide = encode_camera_jpeg(photo, width=480, quality=60)
    assert BotVideo(wide, 0, 0.0).rgb().shape == (562, 480, 3)
    # the colours survive (RGB in, RGB out)
    small = cv2.resize(photo, (320, 375), interpolation=cv2.INTER_AREA)
    assert float(np.abs(decoded.astype(float) - small.astype(float)).mean()) < 5.0


def test_camera_frame_rejects_what_is_not_an_rgb_image(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_camera_jpeg(photo.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        encode_camera_jpeg(photo[:, :, 0])
    with pytest.raises(ValueError, match="quality"):
        encode_camera_jpeg(photo, quality=0)


# --------------------------------------------------------------------------- muxing


def video_result(photo: np.ndarray, *, start_us: int, audio_samples: int) -> TalkResult:
    """Frames 0..9 with frame 3 missing and a second frame for slot 5 (dropped)."""
    video = [BotVideo(jpeg_of(banded(photo, 20 + 20 * k)), start_us + k * FRAME_US, float(k))
             for k in range(10) if k != 3]
    video.insert(6, BotVideo(jpeg_of(banded(photo, 250)), start_us + 5 * FRAME_US, 5.5))
    return TalkResult(audio=bytearray(tone(audio_samples)), sample_rate=RATE_OUT, video=video,
                      audio_start_pts_us=start_us,
                      video_out={"width": 256, "height": 256, "fps": 25, "codec": "jpeg"})


#: Band level of each output frame: 3 repeats 2, 5 keeps the first frame of its pts,
#: 10 (audio longer than the video) repeats 9.
EXPECTED_LEVELS = [20, 40, 60, 60, 100, 120, 140, 160, 180, 200, 200]


def test_frame_schedule_places_frames_at_their_pts(photo: np.ndarray) -> None:
    result = video_result(photo, start_us=5_000_000, audio_samples=10 * CHUNK + 100)
    schedule = result.frame_schedule()
    assert len(schedule) == 11  # ceil(8920 / 882): the video covers the audio
    levels = [round(band_level(frame.rgb())) for frame in schedule]
    assert all(abs(a - b) <= 3 for a, b in zip(levels, EXPECTED_LEVELS, strict=True)), levels
    assert result.video_fps == pytest.approx(10 / (8920 / RATE_OUT))
    assert TalkResult().frame_schedule() == [] and TalkResult().video_fps == 0.0


def test_save_av_writes_an_mp4_with_synced_frames_and_audio(
    photo: np.ndarray, tmp_path: Path
) -> None:
    result = video_result(photo, start_us=5_000_000, audio_samples=10 * CHUNK + 100)
    path = tmp_path / "reply.mp4"
    assert result.save_av(path) == 11
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.has_audio) == (256, 256, 25.0, True)
    assert info.frame_count == 11
    assert info.duration_s == pytest.approx(11 * 0.04, abs=0.02)
    frames = list(iter_frames(path))
    levels = [band_level(frame) for frame in frames]
    assert len(frames) == 11
    assert all(abs(a - b) < 8 for a, b in zip(levels, EXPECTED_LEVELS, strict=True)), levels
    sound = read_audio(path)
    assert sound is not None
    samples, rate = sound
    assert rate == RATE_OUT
    assert abs(len(samples) - (10 * CHUNK + 100)) <= 2048  # AAC priming / padding


def test_report_saves_mp4_with_video_and_falls_back_to_wav(
    photo: np.ndarray, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = video_result(photo, start_us=0, audio_samples=10 * CHUNK)
    result.completed = True
    assert result.report(tmp_path / "a.mp4") == 0
    assert probe_video(tmp_path / "a.mp4").frame_count == 10
    printed = capsys.readouterr().out
    assert "video: 10 frames, 25.0 fps" in printed and "saved" in printed
    audio_only = TalkResult(audio=bytearray(tone(CHUNK * 5)), sample_rate=RATE_OUT)
    assert audio_only.report(tmp_path / "b.mp4") == 1  # not completed
    assert (tmp_path / "b.wav").is_file() and not (tmp_path / "b.mp4").exists()
    with pytest.raises(ValueError, match="no avatar video"):
        audio_only.save_av(tmp_path / "c.mp4")


# --------------------------------------------------------------------------- a loopback peer


@dataclass
class Peer:
    """A v2 peer: greets like the server, parses every client message with the real
    `ProtocolSession`, and runs `script` to send its side."""

    script: Callable[[ServerConnection, Peer], Awaitable[None]] | None = None
    url: str = ""
    hello: Hello | None = None
    received: list[Parsed] = field(default_factory=list)
    errors: list[ProtocolError] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    script_counts: list[int] = field(default_factory=list)  # what a script noted on its way

    def of(self, kind: type) -> list[Any]:
        return [item for item in self.received if isinstance(item, kind)]

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds over what the client has sent."""
        while not condition():
            self.arrived.clear()
            await self.arrived.wait()

    async def handler(self, ws: ServerConnection) -> None:
        session = ProtocolSession()
        hello = session.receive(await ws.recv())
        assert isinstance(hello, Hello)
        self.hello = hello
        video_out = None
        if hello.video_out is not None:
            size = hello.video_out.size
            video_out = {"width": size, "height": size, "fps": 25, "codec": "jpeg",
                         "portrait": hello.portrait or "grace_hopper", "camera_fps": 15}
        await ws.send(encode_message(Welcome(
            session_id="loopback", audio_in=hello.audio_in,
            audio_out=AudioFormat(sample_rate=RATE_OUT), video_out=video_out,
            limits=Limits().as_dict())))

        async def read() -> None:
            async for message in ws:
                try:
                    self.received.append(session.receive(message))
                except ProtocolError as error:
                    self.errors.append(error)
                self.arrived.set()

        reader = asyncio.create_task(read())
        if self.script is not None:
            await self.script(ws, self)
        await reader  # until the client closes


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    state = Peer()
    async with serve(state.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        state.url = f"ws://127.0.0.1:{port}/ws"
        yield state


@pytest.fixture(scope="module")
def user_clip(photo: np.ndarray, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """0.4 s of the user at 25 fps (10 frames, her face sliding sideways)."""
    path = tmp_path_factory.mktemp("clip") / "user.mp4"
    face = square(photo, 320)
    with VideoWriter(path, 25.0, (320, 240)) as writer:
        for k in range(10):
            writer.write(np.ascontiguousarray(np.roll(face[40:280], 4 * k, axis=1)))
    return path


async def test_client_sends_camera_motion_and_portrait_the_server_accepts(
    peer: Peer, photo: np.ndarray
) -> None:
    async with await VoiceClient.connect(peer.url, video_out={"size": 384},
                                         video_in="camera", portrait="grace") as client:
        assert client.video_out is not None and client.video_out["width"] == 384
        assert client.video_fps == 25.0
        await client.send_audio(bytes(640))
        await client.send_camera_frame(photo)
        await client.send_motion(np.linspace(-0.5, 0.5, 58))
        await client.send_motion(None)
        await client.upload_portrait(default_portrait_path())
        await client.set_portrait("grace")
        with pytest.raises(ValueError, match="JPEG"):
            await client.send_camera_jpeg(b"\x89PNG not a jpeg")
        await asyncio.sleep(0.2)
    assert peer.hello is not None and peer.hello.portrait == "grace"
    assert not peer.errors, peer.errors
    kinds = [type(item).__name__ for item in peer.received]
    assert kinds == ["AudioInput", "CameraJpegInput", "MotionInput", "MotionInput",
                     "PortraitUpload", "SetPortrait"]
    camera = peer.of(CameraJpegInput)[0]
    assert BotVideo(camera.jpeg, 0, 0.0).rgb().shape == (375, 320, 3)
    motions = peer.of(MotionInput)
    assert motions[0].motion == pytest.approx(np.linspace(-0.5, 0.5, 58), abs=1e-6)
    assert motions[1].motion is None
    assert peer.of(PortraitUpload)[0].image == default_portrait_path().read_bytes()
    assert peer.of(SetPortrait)[0].name == "grace"


async def test_audio_only_client_cannot_send_video_by_mistake(peer: Peer) -> None:
    async with await VoiceClient.connect(peer.url) as client:
        assert client.video_out is None
        with pytest.raises(ValueError, match="video_in"):
            await client.send_camera_jpeg(b"\xff\xd8\xff")
        with pytest.raises(ValueError, match="video session"):
            await client.set_portrait("grace")


async def test_stream_video_file_samples_the_clip_at_real_time_pace(
    peer: Peer, user_clip: Path
) -> None:
    async with await VoiceClient.connect(peer.url, video_in="camera") as client:
        started = asyncio.get_running_loop().time()
        sent = await client.stream_video_file(user_clip, fps=12.5, width=160)
        elapsed = asyncio.get_running_loop().time() - started
        await asyncio.sleep(0.2)
    assert sent == 5  # 10 frames at 25 fps sampled at 12.5 fps: every second one
    # paced, not sent in a burst (a busy machine can only make it slower)
    assert elapsed >= 0.8 * 4 / 12.5
    frames = peer.of(CameraJpegInput)
    assert len(frames) == 5 and not peer.errors
    assert BotVideo(frames[0].jpeg, 0, 0.0).rgb().shape == (120, 160, 3)
    pts = [frame.pts_us for frame in frames]
    assert pts == sorted(pts) and pts[-1] - pts[0] == pytest.approx(320_000, abs=150_000)


def test_camera_hold_follows_the_turn_events_and_ends_by_itself() -> None:
    hold = CameraHold(secs=3.0)
    assert not hold.held(now=10.0)
    hold.follow("user-stopped-speaking", now=10.0)  # the reply is thought up from here
    assert hold.held(now=10.5) and hold.held(now=12.9)
    assert not hold.held(now=13.0), "no reply within the server's window: the camera goes on"
    for resume in ("bot-started-speaking", "user-started-speaking", "bot-interrupted"):
        hold.follow("user-stopped-speaking", now=20.0)
        hold.follow(resume, now=20.2)
        assert not hold.held(now=20.3), resume
    hold.follow("user-transcription", now=30.0)  # other events change nothing
    assert not hold.held(now=30.1)
    never = CameraHold(secs=0.0)
    never.follow("user-stopped-speaking", now=1.0)
    assert not never.held(now=1.0)
    with pytest.raises(ValueError, match="camera hold"):
        CameraHold(secs=-1.0)


async def test_stream_video_file_holds_the_camera_while_the_reply_is_thought_up(
    peer: Peer, user_clip: Path
) -> None:
    async def script(ws: ServerConnection, state: Peer) -> None:
        await state.until(lambda: len(state.of(CameraJpegInput)) >= 3)
        await ws.send(json.dumps({"type": "user-stopped-speaking", "ts": 1.0}))
        await asyncio.sleep(0.2)  # the frame on its way when the event came lands
        state.script_counts.append(len(state.of(CameraJpegInput)))
        await asyncio.sleep(0.5)
        state.script_counts.append(len(state.of(CameraJpegInput)))
        await ws.send(json.dumps({"type": "bot-started-speaking", "ts": 2.0}))
        await state.until(lambda: len(state.of(CameraJpegInput)) >= state.script_counts[-1] + 2)

    peer.script = script
    async with await VoiceClient.connect(peer.url, video_in="camera") as client:
        reader = asyncio.create_task(_drain(client))
        camera = asyncio.create_task(client.stream_video_file(user_clip, fps=12.5, width=160,
                                                              loop=True))
        await peer.until(lambda: len(peer.script_counts) == 2
                         and len(peer.of(CameraJpegInput)) >= peer.script_counts[-1] + 2)
        camera.cancel()
        reader.cancel()
        await asyncio.gather(camera, reader, return_exceptions=True)
    held_from, held_to = peer.script_counts
    assert held_to == held_from, "camera frames were sent while the reply was thought up"
    assert client.camera_hold.frames_held >= 1  # it waited (how many frames: the loop's pace)
    assert not peer.errors


async def _drain(client: VoiceClient) -> None:
    """Read the server's items (the camera hold follows its turn events there)."""
    async for _ in client.receive():
        pass


async def _play_plan(ws: ServerConnection, plan: list[str], face: np.ndarray | None) -> None:
    """A server's side of a reply, one step a 40 ms frame: "quiet" or "speak" audio (with
    an image of `face` and a message of a kind from the future before it, where `face` is
    given), "start"/"stop"/"interrupted" the bot's speaking events, "text" its `bot-output`."""
    k = 0
    for step in plan:
        if step in ("start", "stop", "interrupted"):
            await ws.send(json.dumps({"type": {"start": "bot-started-speaking",
                                               "stop": "bot-stopped-speaking",
                                               "interrupted": "bot-interrupted"}[step]}))
            continue
        if step == "text":
            await ws.send(json.dumps({"type": "bot-output", "text": "We open at nine."}))
            continue
        pcm = tone(CHUNK) if step == "speak" else bytes(2 * CHUNK)
        if face is not None:
            await ws.send(encode_media(MediaKind.VIDEO, jpeg_of(np.roll(face, k, axis=1)),
                                       k * FRAME_US))
            await ws.send(bytes([7]) + bytes(11))  # a kind from the future, ignored
        await ws.send(encode_media(MediaKind.AUDIO, pcm, k * FRAME_US))
        k += 1
        await asyncio.sleep(0.04)


async def test_talk_collects_synced_video_and_streams_the_camera(
    peer: Peer, photo: np.ndarray, user_clip: Path, tmp_path: Path
) -> None:
    speech = tone(int(0.3 * 16000), rate=16000)
    face = square(photo)

    async def server_side(ws: ServerConnection, state: Peer) -> None:
        """After the user's speech: 5 quiet frames, 10 spoken, stop, then 20 quiet ones."""
        await state.until(lambda: sum(len(a.pcm) for a in state.of(AudioInput)) >= len(speech))
        plan = ["quiet"] * 5 + ["start"] + ["speak"] * 10 + ["stop"] + ["quiet"] * 20
        await _play_plan(ws, plan, face)

    peer.script = server_side
    seen: list[str] = []
    async with await VoiceClient.connect(peer.url, video_out=True, video_in="camera") as client:
        result = await talk(client, speech, timeout_secs=20, video_path=user_clip,
                            on_item=lambda item: seen.append(item.type))
    assert result.completed
    # the tail: 0.4 s (10 frames) kept after bot-stopped-speaking
    assert len(result.video) == 5 + 10 + 10
    assert len(result.audio) == 2 * CHUNK * 25
    assert result.video_fps == pytest.approx(25.0)
    assert result.audio_start_pts_us == 0
    assert [v.pts_us for v in result.video] == [k * FRAME_US for k in range(25)]
    # the reply starts at the first audible chunk, not at the listening silence
    first_spoken = [v for v in result.video if v.pts_us == 5 * FRAME_US][0]
    assert result.first_audio_at is not None and result.first_audio_at > first_spoken.received_at
    assert result.voice_to_voice_ms is not None and result.voice_to_voice_ms > 0
    assert "bot-video" in seen and "bot-audio" in seen
    # the 0.4 s clip looped as a live camera (6 frames a pass at 15 fps) for ~1.5 s
    cameras = peer.of(CameraJpegInput)
    assert len(cameras) > 6, len(cameras)
    assert not peer.errors, peer.errors
    path = tmp_path / "talk.mp4"
    assert result.save_av(path) == 25
    assert probe_video(path).frame_count == 25
    assert math.isclose(probe_video(path).duration_s, 1.0, abs_tol=0.02)


async def test_talk_goes_on_when_the_voice_resumes_within_the_tail(peer: Peer) -> None:
    """A reply whose voice paused past the server's silence limit (a busy machine's
    stall) sends bot-stopped-speaking, then bot-started-speaking again: one exchange,
    its text and both halves of its audio kept."""
    speech = tone(int(0.3 * 16000), rate=16000)

    async def server_side(ws: ServerConnection, state: Peer) -> None:
        await state.until(lambda: sum(len(a.pcm) for a in state.of(AudioInput)) >= len(speech))
        plan = (["quiet"] * 3 + ["start"] + ["speak"] * 5 + ["stop"] + ["quiet"] * 3
                + ["start"] + ["speak"] * 5 + ["text", "stop"] + ["quiet"] * 20)
        await _play_plan(ws, plan, None)

    peer.script = server_side
    async with await VoiceClient.connect(peer.url, video_out=True) as client:
        result = await talk(client, speech, timeout_secs=20)
    assert result.completed
    assert result.reply_text == "We open at nine."
    # 3 quiet, 5 spoken, 3 quiet, 5 spoken, then the 0.4 s tail (10 chunks)
    assert len(result.audio) == 2 * CHUNK * (3 + 5 + 3 + 5 + 10)
    assert not peer.errors, peer.errors


async def test_talk_collects_the_reply_after_one_the_question_interrupted(peer: Peer) -> None:
    """A reply begun at a pause inside the question and stopped by the rest of it
    (bot-interrupted, then bot-stopped-speaking) is not the reply: an audio-only talk()
    waits for the next one and keeps its text and its timing."""
    speech = tone(int(0.3 * 16000), rate=16000)

    async def server_side(ws: ServerConnection, state: Peer) -> None:
        await state.until(lambda: sum(len(a.pcm) for a in state.of(AudioInput)) >= len(speech))
        plan = (["start"] + ["speak"] * 3 + ["interrupted", "stop"] + ["quiet"] * 5
                + ["start"] + ["speak"] * 5 + ["text", "stop"])
        await _play_plan(ws, plan, None)

    peer.script = server_side
    seen: list[Any] = []
    async with await VoiceClient.connect(peer.url) as client:
        result = await talk(client, speech, timeout_secs=20, on_item=seen.append)
    assert result.completed
    assert result.reply_text == "We open at nine."
    kinds = [getattr(e, "type", "") for e in result.events]
    assert kinds.count("bot-started-speaking") == 2 and "bot-interrupted" in kinds
    assert len(result.audio) == 2 * CHUNK * (3 + 5 + 5)
    # timed from the audio after the interruption, not from the interrupted reply's
    interrupted = next(k for k, item in enumerate(seen)
                       if getattr(item, "type", "") == "bot-interrupted")
    after = next(item for item in seen[interrupted:] if isinstance(item, BotAudio))
    assert result.first_audio_at == after.received_at
    assert not peer.errors, peer.errors


def test_a_kiosk_hello_asks_for_presence_and_needs_video() -> None:
    hello = build_hello(2, 16000, "kiosk", True, "camera", None, presence=True)
    wire = json.loads(encode_message(hello))
    assert wire["presence"] is True
    parsed = ProtocolSession().receive(encode_message(hello))
    assert isinstance(parsed, Hello) and parsed.presence is True
    with pytest.raises(ValueError, match="presence needs video_out"):
        build_hello(2, 16000, "kiosk", None, None, None, presence=True)
    # a client that sends it anyway is answered invalid_message at the handshake
    raw = json.dumps({"type": "hello", "protocol": 2, "audio_in": {"sample_rate": 16000},
                      "presence": True})
    with pytest.raises(ProtocolError, match="presence needs video_out"):
        ProtocolSession().receive(raw)


def test_a_drawing_hello_offers_render_the_server_reads_and_needs_video() -> None:
    hello = build_hello(2, 16000, "drawer", {"size": 512}, None, None, draws_face=True)
    parsed = ProtocolSession().receive(encode_message(hello))
    assert isinstance(parsed, Hello) and parsed.render is not None
    assert parsed.render.mode == "client" and parsed.render.asset_formats == [1]
    assert build_hello(2, 16000, "pixels", {"size": 512}, None, None).render is None
    with pytest.raises(ValueError, match="draws_face needs video_out"):
        build_hello(2, 16000, "drawer", None, None, None, draws_face=True)


def test_a_motion_message_becomes_bot_motion_and_a_broken_one_is_skipped() -> None:
    from sdk.items import BotMotion
    from sdk.protocol import FACE_MOTION_DIM, encode_face_motion

    values = [0.01 * i for i in range(FACE_MOTION_DIM)]
    item = parse_item(encode_face_motion(values, 1_240_000, 3), output_rate=RATE_OUT,
                      received_at=5.0)
    assert isinstance(item, BotMotion)
    assert item.pts_us == 1_240_000 and item.assets_serial == 3 and item.received_at == 5.0
    assert np.allclose(item.values, values, atol=1e-6)
    short = encode_media(MediaKind.FACE_MOTION, bytes(12), pts_us=0)
    assert parse_item(short, output_rate=RATE_OUT) is None
