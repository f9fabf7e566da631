"""Issue 27: the server does what docs/PROTOCOL.md says, each case written from the document.

- `hello` is strict: wrong types and unknown fields are `invalid_message`, fatal;
- camera and motion messages are rate-limited per session, with coalesced
  `rate_limited` events (one a second per stream, with the count), dropped on
  the header before the payload is looked at; `welcome.limits` states the limit;
- server audio messages are 40 ms: `rate // 25` samples (882 at 22,050 Hz);
- one `bot-interrupted` per interruption; `bot-tts-text` never before
  `bot-started-speaking`;
- an uploaded portrait needs a face at least 128 px tall, wholly inside the image.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import cv2
import pytest
from pipecat.frames.frames import (
    AggregatedTextFrame,
    BotStartedSpeakingFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    TTSTextFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from avatar.errors import FaceCutOffError, FaceTooSmallError
from avatar.live.assets import portrait_from_upload
from avatar.portrait import UPLOAD_MIN_FACE_PX, default_portrait_path
from pipelines.wire.event_observer import EventSender, ProtocolEventObserver
from pipelines.wire.protocol_session import CameraJpegInput, ProtocolSession
from pipelines.wire.serializer import ProtocolV1Serializer
from pipelines.wire.ws_transport import frame_samples
from sdk.client import VoiceClient
from sdk.errors import ProtocolError
from sdk.items import BotAudio
from sdk.protocol import Hello, Limits, MediaKind, encode_media, encode_motion

JPEG = b"\xff\xd8\xff\xe0" + bytes(200)  # passes the magic check; the face service decodes
V2_CAMERA = {"type": "hello", "protocol": 2, "audio_in": {"sample_rate": 16000},
             "video_out": True, "video_in": {"kind": "camera"}}


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def refused_hello(hello: dict[str, Any]) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        ProtocolSession().receive(json.dumps(hello))
    return info.value


# --------------------------------------------------------------------------- hello


@pytest.mark.parametrize(
    "change",
    [
        {"video_out": {"size": "512"}},  # a string where the document says a number
        {"video_out": {"size": 512.0}},
        {"video_out": {"size": True}},
        {"video_out": {"fps": "25"}},
        {"audio_in": {"sample_rate": 16000, "channels": "1"}},
        {"client": 7},
        {"portrait": ["grace_hopper"]},
        {"video_in": {"kind": "camera", "fps": 10}},  # unknown nested field
        {"video_out": {"size": 512, "quality": 80}},
        {"audio_in": {"sample_rate": 16000, "bits": 16}},
        {"videoOut": True},  # unknown top-level field (a typo)
    ],
)
def test_hello_with_a_wrong_type_or_an_unknown_field_is_fatal_invalid_message(
    change: dict[str, Any],
) -> None:
    error = refused_hello({**V2_CAMERA, **change})
    assert error.code == "invalid_message" and error.fatal
    assert next(iter(change)) in error.detail  # the message names the field


def test_the_documented_hello_forms_still_open() -> None:
    for hello in (
        V2_CAMERA,
        {"type": "hello", "protocol": 2, "audio_in": {"sample_rate": 16000, "channels": 1,
                                                       "encoding": "pcm_s16le"},
         "client": "my-kiosk/1.0", "video_out": {"size": 512, "fps": 25, "codec": "jpeg"},
         "video_in": {"kind": "camera"}, "portrait": "grace_hopper", "token": "t"},
        {"type": "hello", "protocol": 1, "audio_in": {"sample_rate": 48000},
         "video_out": False},
    ):
        assert isinstance(ProtocolSession().receive(json.dumps(hello)), Hello)


def test_ping_and_set_portrait_are_strict_too() -> None:
    session = ProtocolSession()
    session.receive(json.dumps(V2_CAMERA))
    for bad in ({"type": "ping", "id": 1, "extra": 2}, {"type": "set-portrait", "name": 3},
                {"type": "ping", "id": [1]}):
        with pytest.raises(ProtocolError) as info:
            session.receive(json.dumps(bad))
        assert info.value.code == "invalid_message" and not info.value.fatal


# --------------------------------------------------------------------------- camera limit


def test_welcome_limits_state_the_camera_limit() -> None:
    limits = Limits().as_dict()
    assert limits["max_camera_fps"] == 25.0 and limits["camera_burst_frames"] == 10


def test_camera_flood_is_dropped_beyond_the_rate_and_a_steady_camera_is_not() -> None:
    clock = Clock()
    session = ProtocolSession(clock=clock)
    session.receive(json.dumps(V2_CAMERA))
    frame = encode_media(MediaKind.CAMERA, JPEG)
    passed = dropped = 0
    for _ in range(250):  # one second of 250 frames a second
        clock.now += 1 / 250
        try:
            session.receive(frame)
            passed += 1
        except ProtocolError as error:
            assert error.code == "rate_limited" and not error.fatal
            dropped += 1
    assert passed <= 10 + 25 + 1 and dropped >= 250 - 36
    clock.now += 1.0  # the bucket refills; then a steady 25 fps camera is never refused
    for _ in range(200):
        clock.now += 1 / 25
        assert isinstance(session.receive(frame), CameraJpegInput)


def test_motion_counts_against_the_same_limit_and_junk_is_dropped_before_decoding() -> None:
    clock = Clock()
    session = ProtocolSession(clock=clock)
    session.receive(json.dumps({**V2_CAMERA, "video_in": {"kind": "motion"}}))
    for _ in range(10):
        session.receive(encode_motion(None))
    with pytest.raises(ProtocolError) as info:
        session.receive(encode_motion(None))
    assert info.value.code == "rate_limited"
    # a flood of bad frames is refused on the header, not decoded one by one
    with pytest.raises(ProtocolError) as info:
        session.receive(encode_media(MediaKind.CAMERA, b"not a jpeg"))
    assert info.value.code == "rate_limited"


async def test_rate_limited_events_are_one_a_second_per_stream_with_the_count() -> None:
    clock = Clock()
    session = ProtocolSession(clock=clock)
    session.receive(json.dumps(V2_CAMERA))
    serializer = ProtocolV1Serializer(session, clock=clock)
    camera = encode_media(MediaKind.CAMERA, JPEG)
    audio = encode_media(MediaKind.AUDIO, bytes(3200))  # 100 ms

    async def events(message: bytes, count: int) -> list[dict]:
        frames: list[Frame | None] = [await serializer.deserialize(message) for _ in range(count)]
        return [f.message for f in frames if f is not None and hasattr(f, "message")
                and f.message.get("type") == "error"]

    first = await events(camera, 60)  # 10 pass, 50 dropped: one event, for the first drop
    assert [e["code"] for e in first] == ["rate_limited"]
    assert first[0]["message"].startswith("1 camera frame dropped since the last rate_limited")
    # an audio flood meanwhile is reported on its own, not hidden by the camera's event
    audio_events = await events(audio, 100)
    assert [e["message"].split(" dropped")[0] for e in audio_events] == ["1 audio chunk"]
    assert await events(camera, 30) == []  # within the second: counted, not sent
    clock.now += 1.1  # refills 10 frames (the burst); the 11th of the next 20 is reported
    later = await events(camera, 20)
    assert len(later) == 1
    assert later[0]["message"].startswith("80 camera frames dropped since the last")  # 49+30+1
    assert serializer.rate_limited_total["camera frame"] == 50 + 30 + 10


# --------------------------------------------------------------------------- audio chunk


def test_a_40_ms_audio_message_is_rate_over_25_samples() -> None:
    assert frame_samples(22050) == 882  # the document's figure, exactly
    assert frame_samples(16000) == 640 and frame_samples(24000) == 960
    assert frame_samples(22051) is None  # not whole samples: pipecat's own chunking stays


# --------------------------------------------------------------------------- events


class Events:
    """A real `ProtocolEventObserver` fed frames as the pipeline pushes them."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.output = FrameProcessor(name="output-transport")
        self.aggregator = FrameProcessor(name="user-aggregator")
        self.observer = ProtocolEventObserver(sender=EventSender(name="events"),
                                              output_transport=self.output,
                                              on_event=self.sent.append)

    async def push(self, frame: Frame, *, source: FrameProcessor | None = None,
                   direction: FrameDirection = FrameDirection.DOWNSTREAM) -> None:
        await self.observer.on_push_frame(FramePushed(
            source=source or self.aggregator, destination=self.output, frame=frame,
            direction=direction, timestamp=0))

    @property
    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]


async def test_one_bot_interrupted_per_interruption() -> None:
    events = Events()
    await events.push(LLMFullResponseStartFrame())
    await events.push(BotStartedSpeakingFrame())
    # the barge-in sends one interruption both ways (pipelines/turns/barge_in.py) and other
    # processors may push their own: the client hears of it once
    down, up = InterruptionFrame(), InterruptionFrame()
    down.broadcast_sibling_id, up.broadcast_sibling_id = up.id, down.id
    await events.push(down)
    await events.push(up, direction=FrameDirection.UPSTREAM)
    await events.push(InterruptionFrame())
    assert events.types == ["bot-started-speaking", "bot-interrupted"]
    # the next reply can be interrupted again
    await events.push(LLMFullResponseStartFrame())
    await events.push(InterruptionFrame())
    assert events.types == ["bot-started-speaking", "bot-interrupted", "bot-interrupted"]


async def test_bot_tts_text_waits_for_the_reply_audio_to_start() -> None:
    events = Events()
    await events.push(LLMFullResponseStartFrame())
    first = AggregatedTextFrame("Hello there.", "sentence")
    first.will_be_spoken = True  # what pipecat's TTS sets on a sentence it will say
    await events.push(first, source=events.output)  # synthesized, audio not sent yet
    assert events.types == []
    await events.push(BotStartedSpeakingFrame())
    assert events.types == ["bot-started-speaking", "bot-tts-text"]
    second = AggregatedTextFrame("How can I help?", "sentence")
    second.will_be_spoken = True
    await events.push(second, source=events.output)  # audio flowing: right before its own
    await events.push(TTSTextFrame("Hello there.", "sentence"), source=events.output)
    assert events.types == ["bot-started-speaking", "bot-tts-text", "bot-tts-text",
                            "bot-output"]
    assert [m.get("text") for m in events.sent[1:3]] == ["Hello there.", "How can I help?"]


async def test_a_caption_held_for_a_reply_that_is_interrupted_is_never_sent() -> None:
    events = Events()
    await events.push(LLMFullResponseStartFrame())
    text = AggregatedTextFrame("Never heard.", "sentence")
    text.will_be_spoken = True
    await events.push(text, source=events.output)
    await events.push(InterruptionFrame())
    await events.push(BotStartedSpeakingFrame())
    assert events.types == ["bot-interrupted", "bot-started-speaking"]


# --------------------------------------------------------------------------- portraits


def _jpeg(image: Any) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image)
    assert ok
    return bytes(buffer.tobytes())


def test_an_uploaded_face_must_be_128_px_tall_and_wholly_inside_the_image() -> None:
    photo = cv2.imread(str(default_portrait_path()))  # Grace Hopper, face ~190 px tall
    assert portrait_from_upload(_jpeg(photo), name="ok").name == "ok"
    small = cv2.resize(photo, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    with pytest.raises(FaceTooSmallError, match=f"at least {UPLOAD_MIN_FACE_PX} px"):
        portrait_from_upload(_jpeg(small))
    for cut in (photo[:, : photo.shape[1] * 55 // 100], photo[photo.shape[0] // 4:]):
        with pytest.raises(FaceCutOffError, match="past the edge"):
            portrait_from_upload(_jpeg(cut))


# --------------------------------------------------------------------------- e2e


@pytest.mark.e2e
async def test_server_audio_messages_are_40_ms_with_an_exact_pts_step(
    voice_server: Any, say: Any
) -> None:
    """PROTOCOL.md: 40 ms messages (882 samples at 22,050 Hz), pts = samples sent."""
    async with await VoiceClient.connect(voice_server.url, busy_retry_secs=60) as client:
        rate = client.output_rate
        chunks: list[BotAudio] = []
        done = asyncio.Event()

        async def listen() -> None:
            async for item in client.receive():
                if isinstance(item, BotAudio):
                    chunks.append(item)
                elif getattr(item, "type", "") in ("bot-stopped-speaking", "closed"):
                    done.set()
                    return

        listener = asyncio.create_task(listen())
        await client.speak_until(say("Do you have free parking?"), done, timeout_secs=90)
        listener.cancel()
    assert chunks, "no reply audio"
    samples = frame_samples(rate)
    assert samples is not None
    assert {len(c.pcm) // 2 for c in chunks} == {samples}
    # pts_us counts the samples sent: chunk n starts at n * samples, rounded down
    first = round(chunks[0].pts_us * rate / 1_000_000 / samples)
    assert [c.pts_us for c in chunks] == [
        (first + n) * samples * 1_000_000 // rate for n in range(len(chunks))]
