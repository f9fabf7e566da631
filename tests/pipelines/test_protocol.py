"""Wire protocol v1 state machine and media framing (no models, no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.wire.protocol_session import AudioInput, ProtocolSession, SessionState
from sdk.errors import ProtocolError
from sdk.events import BotOutput, ErrorEvent
from sdk.protocol import (
    MEDIA_HEADER_SIZE,
    PROTOCOL_VERSION,
    SERVER_EVENT_TYPES,
    AudioFormat,
    Hello,
    Limits,
    MediaKind,
    Ping,
    Welcome,
    decode_media,
    encode_media,
    encode_message,
    parse_server_message,
)


def hello(rate: object = 16000, protocol: object = PROTOCOL_VERSION) -> str:
    return json.dumps({"type": "hello", "protocol": protocol, "audio_in": {"sample_rate": rate}})


class FakeClock:
    """A settable monotonic clock for the rate limiter."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def open_session(**kwargs: object) -> ProtocolSession:
    session = ProtocolSession(**kwargs)  # type: ignore[arg-type]
    assert isinstance(session.receive(hello()), Hello)
    return session


def audio(seconds: float, rate: int = 16000, pts_us: int = 0) -> bytes:
    pcm = (np.sin(np.arange(int(seconds * rate)) / 5.0) * 3000).astype(np.int16).tobytes()
    return encode_media(MediaKind.AUDIO, pcm, pts_us)


def test_media_round_trip_keeps_kind_pts_and_payload() -> None:
    payload = bytes(range(200))
    data = encode_media(MediaKind.AUDIO, payload, pts_us=1_234_567)
    assert len(data) == MEDIA_HEADER_SIZE + len(payload)
    chunk = decode_media(data)
    assert (chunk.kind, chunk.pts_us, chunk.payload) == (MediaKind.AUDIO, 1_234_567, payload)
    assert decode_media(encode_media(MediaKind.VIDEO, b"jpeg", 40_000)).kind is MediaKind.VIDEO


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b"\x01\x00", "shorter than"),
        (bytes([9]) + bytes(11) + b"\x00\x00", "unknown media kind 9"),
        (encode_media(MediaKind.AUDIO, b"\x01\x02\x03"), "whole 16-bit samples"),
    ],
)
def test_bad_media_is_rejected_with_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError, match=fragment) as info:
        decode_media(data)
    assert info.value.code == "bad_media"


def test_handshake_opens_session_and_records_rate() -> None:
    session = ProtocolSession()
    assert session.state is SessionState.AWAITING_HELLO
    parsed = session.receive(hello(24000))
    assert isinstance(parsed, Hello)
    assert session.state is SessionState.OPEN and session.input_rate == 24000


@pytest.mark.parametrize(
    "message, code",
    [
        (hello(protocol=3), "unsupported_version"),
        (hello(protocol=True), "unsupported_version"),
        (hello(rate=11025), "unsupported_sample_rate"),
        (hello(rate="16000"), "unsupported_sample_rate"),
        (json.dumps({"type": "hello", "protocol": 1, "audio_in": {}}), "unsupported_sample_rate"),
        (json.dumps({"type": "hello", "protocol": 1}), "unsupported_sample_rate"),
        (json.dumps({"type": "ping"}), "handshake_required"),
    ],
)
def test_bad_handshake_is_fatal(message: str, code: str) -> None:
    session = ProtocolSession()
    with pytest.raises(ProtocolError) as info:
        session.receive(message)
    assert info.value.code == code and info.value.fatal
    assert session.state is SessionState.AWAITING_HELLO


def test_audio_before_hello_is_fatal() -> None:
    with pytest.raises(ProtocolError) as info:
        ProtocolSession().receive(audio(0.02))
    assert info.value.code == "handshake_required" and info.value.fatal


@pytest.mark.parametrize(
    "message, code",
    [
        ("not json at all", "malformed_message"),
        ("[1, 2, 3]", "malformed_message"),
        (json.dumps({"no_type": 1}), "malformed_message"),
        (json.dumps({"type": "dance"}), "unknown_message_type"),
        (json.dumps({"type": "audio", "data": "AAAA"}), "expected_binary"),
        (hello(), "invalid_message"),  # a second hello
        (json.dumps({"type": "ping", "id": [1]}), "invalid_message"),
    ],
)
def test_bad_messages_after_handshake_are_not_fatal(message: str, code: str) -> None:
    session = open_session()
    with pytest.raises(ProtocolError) as info:
        session.receive(message)
    assert info.value.code == code and not info.value.fatal
    assert session.state is SessionState.OPEN
    assert isinstance(session.receive(json.dumps({"type": "ping", "id": 7})), Ping)


def test_oversized_message_is_refused_but_session_survives() -> None:
    session = open_session(limits=Limits(max_message_bytes=4096))
    with pytest.raises(ProtocolError) as info:
        session.receive(audio(0.5))  # 16 KB
    assert info.value.code == "frame_too_large" and not info.value.fatal
    parsed = session.receive(audio(0.1))  # 3.2 KB
    assert isinstance(parsed, AudioInput) and len(parsed.pcm) == 3200


def test_audio_comes_back_with_the_negotiated_rate() -> None:
    session = ProtocolSession()
    session.receive(hello(48000))
    parsed = session.receive(audio(0.02, rate=48000, pts_us=20_000))
    assert isinstance(parsed, AudioInput)
    assert (parsed.sample_rate, parsed.pts_us, len(parsed.pcm)) == (48000, 20_000, 1920)


def test_video_from_client_is_refused() -> None:
    session = open_session()
    with pytest.raises(ProtocolError, match="may not send avatar video"):
        session.receive(encode_media(MediaKind.VIDEO, b"frame"))


def open_video_session(video_in: str | None = "camera") -> ProtocolSession:
    """A v2 session that asked for video (and offers camera or motion)."""
    session = ProtocolSession()
    message: dict[str, object] = {"type": "hello", "protocol": 2,
                                  "audio_in": {"sample_rate": 16000}, "video_out": {"size": 384}}
    if video_in is not None:
        message["video_in"] = {"kind": video_in}
    parsed = session.receive(json.dumps(message))
    assert isinstance(parsed, Hello) and parsed.video_out is not None
    assert parsed.video_out.size == 384
    return session


def test_v1_hello_ignores_video_fields_and_true_means_defaults() -> None:
    v1 = ProtocolSession().receive(json.dumps(
        {"type": "hello", "protocol": 1, "audio_in": {"sample_rate": 16000}, "video_out": True}))
    assert isinstance(v1, Hello) and v1.video_out is None
    v2 = ProtocolSession().receive(json.dumps(
        {"type": "hello", "protocol": 2, "audio_in": {"sample_rate": 16000}, "video_out": True,
         "video_in": True, "portrait": "grace_hopper"}))
    assert isinstance(v2, Hello) and v2.video_out is not None and v2.video_out.size == 512
    assert v2.video_in is not None and v2.video_in.kind == "camera"
    assert v2.portrait == "grace_hopper"


def test_camera_frames_need_video_in_and_must_be_jpeg() -> None:
    from pipelines.wire.protocol_session import CameraJpegInput

    with pytest.raises(ProtocolError) as info:
        open_session().receive(encode_media(MediaKind.CAMERA, b"\xff\xd8\xff..."))
    assert info.value.code == "video_in_disabled" and not info.value.fatal
    session = open_video_session()
    parsed = session.receive(encode_media(MediaKind.CAMERA, b"\xff\xd8\xffjpeg", pts_us=40))
    assert isinstance(parsed, CameraJpegInput) and parsed.pts_us == 40
    with pytest.raises(ProtocolError) as info:
        session.receive(encode_media(MediaKind.CAMERA, b"\x89PNG\r\n\x1a\n..."))
    assert info.value.code == "bad_camera_frame" and not info.value.fatal


def test_camera_frames_have_their_own_size_limit() -> None:
    session = open_video_session()
    big_jpeg = b"\xff\xd8\xff" + bytes(200_000)  # over the audio limit, under the image one
    assert session.receive(encode_media(MediaKind.CAMERA, big_jpeg)) is not None
    with pytest.raises(ProtocolError) as info:
        session.receive(encode_media(MediaKind.AUDIO, bytes(200_000)))
    assert info.value.code == "frame_too_large"
    with pytest.raises(ProtocolError, match="max_image_bytes"):
        session.receive(encode_media(MediaKind.CAMERA, b"\xff\xd8\xff" + bytes(2_000_000)))


def test_motion_vectors_round_trip_and_bad_ones_are_refused() -> None:
    from avatar.motion import MOTION_DIM
    from pipelines.wire.protocol_session import MotionInput
    from sdk.protocol import MOTION_VECTOR_DIM, encode_motion

    assert MOTION_VECTOR_DIM == MOTION_DIM
    session = open_video_session("motion")
    values = [float(i) / 10 for i in range(MOTION_DIM)]
    parsed = session.receive(encode_motion(values, pts_us=80))
    assert isinstance(parsed, MotionInput) and parsed.pts_us == 80
    assert parsed.motion == pytest.approx(values)
    no_face = session.receive(encode_motion(None))
    assert isinstance(no_face, MotionInput) and no_face.motion is None
    with pytest.raises(ProtocolError) as info:
        session.receive(encode_media(MediaKind.MOTION, bytes(12), flags=1))
    assert info.value.code == "bad_camera_frame"
    with pytest.raises(ProtocolError, match="NaN"):
        session.receive(encode_motion([float("nan")] * MOTION_DIM))


def test_portrait_uploads_need_a_video_session_and_an_image() -> None:
    from pipelines.wire.protocol_session import PortraitUpload
    from sdk.protocol import SetPortrait

    with pytest.raises(ProtocolError) as info:
        open_session().receive(encode_media(MediaKind.PORTRAIT, b"\xff\xd8\xff"))
    assert info.value.code == "bad_portrait"
    session = open_video_session(None)
    assert isinstance(session.receive(encode_media(MediaKind.PORTRAIT, b"\xff\xd8\xffx")),
                      PortraitUpload)
    with pytest.raises(ProtocolError, match="JPEG or PNG"):
        session.receive(encode_media(MediaKind.PORTRAIT, b"GIF89a"))
    switch = session.receive(json.dumps({"type": "set-portrait", "name": "astronaut"}))
    assert isinstance(switch, SetPortrait) and switch.name == "astronaut"


def test_rate_limit_bounds_the_input_queue() -> None:
    clock = FakeClock()
    session = open_session(limits=Limits(max_audio_rate=2.0, audio_burst_secs=1.0), clock=clock)
    for _ in range(10):  # 1 s of burst allowance, 0.1 s per chunk
        session.receive(audio(0.1))
    with pytest.raises(ProtocolError) as info:
        session.receive(audio(0.1))
    assert info.value.code == "rate_limited" and not info.value.fatal
    clock.now += 0.05  # 0.05 s of wall time refills 0.1 s of audio at 2x
    assert isinstance(session.receive(audio(0.1)), AudioInput)
    clock.now += 10.0  # real-time senders never hit the limit
    for _ in range(50):
        clock.now += 0.1
        session.receive(audio(0.1))


def test_closed_session_refuses_everything() -> None:
    session = open_session()
    session.close()
    with pytest.raises(ProtocolError) as info:
        session.receive(audio(0.02))
    assert info.value.fatal


def test_server_messages_round_trip_through_the_client_parser() -> None:
    welcome = Welcome(
        session_id="s1",
        audio_in=AudioFormat(sample_rate=16000),
        audio_out=AudioFormat(sample_rate=22050),
        limits=Limits().as_dict(),
    )
    for message in (welcome, BotOutput(text="Hello there."),
                    ErrorEvent(code="llm_unavailable", message="down", fatal=False)):
        text = encode_message(message)
        assert json.loads(text)["type"] in SERVER_EVENT_TYPES
        assert parse_server_message(text) == message
    with pytest.raises(ProtocolError):
        parse_server_message('{"type": "nonsense"}')
