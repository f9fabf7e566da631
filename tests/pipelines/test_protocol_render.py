"""Protocol v2.3, the face drawn by the client: the hello's offer, the client's messages,
the motion frame (kind 6) and the server's events, the serializer and outbox (no models)."""

from __future__ import annotations

import json

import pytest
from pipecat.frames.frames import OutputAudioRawFrame, OutputTransportMessageUrgentFrame

from avatar.render.browser_assets import MOTION_FRAME_LEN
from pipelines.wire.frames import EncodedMotionFrame, EncodedVideoFrame
from pipelines.wire.outbox import is_video_message
from pipelines.wire.protocol_session import ProtocolSession
from pipelines.wire.serializer import ProtocolV1Serializer
from sdk.errors import ProtocolError
from sdk.protocol import (
    FACE_MOTION_DIM,
    PROTOCOL_MINOR,
    AssetsEvent,
    AssetsLoaded,
    Hello,
    MediaKind,
    RenderEvent,
    SetRender,
    decode_face_motion,
    decode_media,
    encode_face_motion,
    encode_media,
    parse_server_message,
)

RENDER = {"mode": "client", "asset_formats": [1]}


def hello(**fields: object) -> str:
    message = {"type": "hello", "protocol": 2, "audio_in": {"sample_rate": 16000},
               "video_out": {"size": 512}, **fields}
    return json.dumps(message)


def open_session(**fields: object) -> ProtocolSession:
    session = ProtocolSession()
    session.receive(hello(**fields))
    return session


def test_the_face_motion_frame_is_the_renderers_motion_vector() -> None:
    assert FACE_MOTION_DIM == MOTION_FRAME_LEN
    assert PROTOCOL_MINOR == 3


def test_a_hello_offers_to_draw_with_the_asset_formats_it_reads() -> None:
    parsed = open_session(render=RENDER).hello
    assert isinstance(parsed, Hello) and parsed.render is not None
    assert parsed.render.mode == "client" and parsed.render.asset_formats == [1]
    assert open_session().hello is not None and open_session().hello.render is None  # type: ignore[union-attr]


@pytest.mark.parametrize("render, problem", [
    ({"mode": "client", "asset_formats": []}, "asset_formats"),
    ({"mode": "server", "asset_formats": [1]}, "mode"),
    ({"mode": "client", "asset_formats": ["1"]}, "asset_formats"),
    ({"mode": "client", "asset_formats": [1], "webgl": 2}, "webgl"),
    (True, "render"),
])
def test_a_bad_render_offer_fails_the_handshake_naming_it(render: object, problem: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        ProtocolSession().receive(hello(render=render))
    assert caught.value.code == "invalid_message" and caught.value.fatal
    assert problem in caught.value.detail


def test_render_needs_a_face_and_v1_ignores_it() -> None:
    with pytest.raises(ProtocolError, match="render needs video_out"):
        ProtocolSession().receive(json.dumps({"type": "hello", "protocol": 2,
                                              "audio_in": {"sample_rate": 16000}, "render": RENDER}))
    v1 = ProtocolSession()
    v1.receive(json.dumps({"type": "hello", "protocol": 1, "audio_in": {"sample_rate": 16000},
                           "video_out": True, "render": RENDER}))
    assert v1.hello is not None and v1.hello.render is None and v1.hello.video_out is None


def test_the_clients_render_messages_parse_and_bad_ones_are_named() -> None:
    session = open_session(render=RENDER)
    loaded = session.receive(json.dumps({"type": "assets-loaded", "id": "ab" * 32}))
    assert loaded == AssetsLoaded(id="ab" * 32)
    pixels = session.receive(json.dumps({"type": "set-render", "mode": "pixels",
                                         "reason": "the GL context was lost"}))
    assert isinstance(pixels, SetRender) and pixels.reason == "the GL context was lost"
    for bad, problem in [({"type": "set-render", "mode": "client"}, "mode"),
                         ({"type": "assets-loaded"}, "id"),
                         ({"type": "assets-loaded", "id": ""}, "id")]:
        with pytest.raises(ProtocolError) as caught:
            session.receive(json.dumps(bad))
        assert caught.value.code == "invalid_message" and not caught.value.fatal
        assert problem in caught.value.detail


def test_a_client_may_not_send_the_avatars_motion() -> None:
    session = open_session(render=RENDER)
    message = encode_face_motion([0.0] * FACE_MOTION_DIM, 0, 1)
    with pytest.raises(ProtocolError) as caught:
        session.receive(message)
    assert caught.value.code == "bad_media" and "kind 6" in caught.value.detail


def test_a_motion_frame_round_trips_with_its_assets_serial() -> None:
    values = [i / 8 for i in range(FACE_MOTION_DIM)]
    message = encode_face_motion(values, 1_240_000, 3)
    assert len(message) == 12 + 4 * FACE_MOTION_DIM  # 248 bytes: ~6.2 kB/s at 25 a second
    chunk = decode_media(message)
    assert chunk.kind is MediaKind.FACE_MOTION and chunk.aux == 3 and chunk.pts_us == 1_240_000
    assert decode_face_motion(chunk) == pytest.approx(values)
    with pytest.raises(ValueError, match="59 values"):
        encode_face_motion(values[:-1], 0, 1)
    with pytest.raises(ValueError, match="serial"):
        encode_face_motion(values, 0, 0)
    bad = decode_media(encode_media(MediaKind.FACE_MOTION, b"\x00" * 12, 0, aux=1))
    with pytest.raises(ProtocolError, match="236 bytes"):
        decode_face_motion(bad)


def test_the_servers_render_events_parse() -> None:
    assets = parse_server_message(json.dumps({
        "type": "assets", "portrait": "grace_hopper", "id": "ab", "serial": 1, "url": "/assets/ab",
        "format": 1, "bytes": 1000, "later": "ignored"}))
    assert isinstance(assets, AssetsEvent) and assets.url == "/assets/ab"
    render = parse_server_message(json.dumps({"type": "render", "mode": "pixels", "reason": "x"}))
    assert isinstance(render, RenderEvent) and render.mode == "pixels"


async def test_a_motion_frame_goes_out_at_its_audios_pts_one_face_frame_per_40_ms() -> None:
    session = open_session(render=RENDER)
    serializer = ProtocolV1Serializer(session)
    audio = OutputAudioRawFrame(audio=bytes(882 * 2), sample_rate=22050, num_channels=1)
    payload = bytes(4 * FACE_MOTION_DIM)
    first = await serializer.serialize(EncodedMotionFrame(message=None, payload=payload, serial=2))
    await serializer.serialize(audio)
    second = await serializer.serialize(EncodedMotionFrame(message=None, payload=payload, serial=2))
    again = await serializer.serialize(EncodedVideoFrame(message=None, jpeg=b"\xff\xd8\xff"))
    assert isinstance(first, bytes) and isinstance(second, bytes)
    chunks = [decode_media(first), decode_media(second)]
    assert [c.kind for c in chunks] == [MediaKind.FACE_MOTION] * 2
    assert [c.pts_us for c in chunks] == [0, 40_000] and [c.aux for c in chunks] == [2, 2]
    assert again is None and serializer.video_dropped == 1  # a second face frame for one pts
    assert serializer.motion_sent == 2
    assert is_video_message(first), "motion frames give way under backpressure, as JPEGs do"


async def test_render_messages_reach_the_sessions_switch_or_are_answered() -> None:
    session = open_session(render=RENDER)
    serializer = ProtocolV1Serializer(session)
    # a session the server draws: set-render is moot, assets-loaded a mistake
    assert await serializer.deserialize(json.dumps({"type": "set-render", "mode": "pixels"})) is None
    answer = await serializer.deserialize(json.dumps({"type": "assets-loaded", "id": "x"}))
    assert isinstance(answer, OutputTransportMessageUrgentFrame)
    assert answer.message["code"] == "bad_render" and answer.message["fatal"] is False
    seen: list[object] = []

    def switch(message: object) -> dict[str, object]:
        seen.append(message)
        return {"type": "render", "mode": "pixels", "reason": "asked"}

    serializer.on_render = switch
    answer = await serializer.deserialize(json.dumps({"type": "set-render", "mode": "pixels",
                                                      "reason": "lost context"}))
    assert isinstance(answer, OutputTransportMessageUrgentFrame) and answer.message["type"] == "render"
    assert seen == [SetRender(reason="lost context")]
