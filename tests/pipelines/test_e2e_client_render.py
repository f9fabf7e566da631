"""Protocol v2.3 end to end: a client that draws gets the portrait's assets and motion
frames, no JPEGs; an old client (the Python SDK) gets JPEGs on the same server; a client
that asks for pixels gets them within a second; one that never loads its assets gets
pixels after the timeout, its session kept. Real server, real face workers, a real
websocket; what is asserted is what reached the clients."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from sdk.client import VoiceClient
from sdk.items import BotVideo
from sdk.protocol import FACE_MOTION_DIM, MediaKind, decode_face_motion, decode_media, encode_media

pytestmark = pytest.mark.e2e

RENDER_HELLO = {"type": "hello", "protocol": 2, "audio_in": {"sample_rate": 16000},
                "client": "test-drawing-client", "video_out": {"size": 512},
                "render": {"mode": "client", "asset_formats": [1]}}
SILENCE = encode_media(MediaKind.AUDIO, bytes(640), 0)  # 20 ms at 16 kHz


@pytest.fixture(scope="module")
def render_server(video_runtime: Any, start_server: Any) -> Any:
    """Sessions admitted by `max_sessions` alone (two at once here), and a short wait for
    assets, so a client that never loads them is seen switched within the test."""
    from pipelines.server.app import ServerConfig

    return start_server(video_runtime, ServerConfig(max_sessions=3, adapt_quality=False,
                                                    assets_timeout_secs=3.0))


@contextlib.asynccontextmanager
async def drawing_client(url: str) -> AsyncIterator[Any]:
    """A raw websocket that offers to draw, sending microphone silence in real time."""
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps(RENDER_HELLO))

        async def mic() -> None:
            while True:
                await ws.send(SILENCE)
                await asyncio.sleep(0.02)

        task = asyncio.create_task(mic())
        try:
            yield ws
        finally:
            task.cancel()


async def receive_for(ws: Any, seconds: float, until: Any = None) -> list[Any]:
    """Everything received for `seconds` (text parsed), or up to the first item
    `until(item)` accepts."""
    items: list[Any] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            message = await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic()))
        except TimeoutError:
            break
        item = json.loads(message) if isinstance(message, str) else decode_media(message)
        items.append(item)
        if until is not None and until(item):
            break
    return items


def kinds(items: list[Any]) -> dict[MediaKind, int]:
    counts: dict[MediaKind, int] = {}
    for item in items:
        if not isinstance(item, dict):
            counts[item.kind] = counts.get(item.kind, 0) + 1
    return counts


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _lower(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers.items()), error.read()


def _lower(items: Any) -> dict[str, str]:
    """Header names as HTTP/1.1 lets a server spell them: in any case."""
    return {name.lower(): value for name, value in items}


async def test_a_drawing_client_gets_assets_and_motion_while_an_old_client_gets_jpegs(
        render_server: Any) -> None:
    async with drawing_client(render_server.url) as ws:
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert welcome["type"] == "welcome" and welcome["protocol_minor"] == 3
        assert welcome["render"]["mode"] == "client", welcome
        assets = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert assets["type"] == "assets" and assets["serial"] == 1, assets

        # the bundle: its hash names it, the browser may keep it for good
        status, headers, body = http_get(f"{render_server.http}{assets['url']}")
        assert status == 200 and len(body) == assets["bytes"] and body[:4] == b"AFGL"
        assert hashlib.sha256(body).hexdigest() == assets["id"]
        assert "immutable" in headers["cache-control"] and headers["etag"] == f'"{assets["id"]}"'
        assert http_get(f"{render_server.http}{assets['url']}",
                        {"If-None-Match": headers["etag"]})[0] == 304
        assert http_get(f"{render_server.http}/assets/{'0' * 64}")[0] == 404
        await ws.send(json.dumps({"type": "assets-loaded", "id": assets["id"]}))

        # an old client on the same server meanwhile: the Python SDK, JPEGs as ever
        async with await VoiceClient.connect(render_server.url, video_out={"size": 256}) as old:
            old_items: list[Any] = []

            async def listen() -> None:
                async for item in old.receive():
                    old_items.append(item)

            listener = asyncio.create_task(listen())
            drawn = await receive_for(ws, 4.0)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        assert sum(isinstance(i, BotVideo) for i in old_items) > 0, "the old client got no JPEG"

        counts = kinds(drawn)
        assert counts.get(MediaKind.VIDEO, 0) == 0, f"JPEGs to a client that draws: {counts}"
        motions = [i for i in drawn if not isinstance(i, dict) and i.kind is MediaKind.FACE_MOTION]
        audio_pts = {i.pts_us for i in drawn if not isinstance(i, dict) and i.kind is MediaKind.AUDIO}
        assert len(motions) >= 25, counts  # ~25 a second, a loaded machine skips some
        assert all(m.aux == 1 for m in motions)
        assert all(len(decode_face_motion(m)) == FACE_MOTION_DIM for m in motions)
        on_audio = sum(m.pts_us in audio_pts for m in motions)
        assert on_audio >= 0.9 * len(motions), "motion frames off the audio's clock"
        # a loaded server reads the test's paced silence in bursts and may drop a chunk
        # ('rate_limited', not fatal): that is the mic's pace, not the drawn face's
        errors = [i for i in drawn if isinstance(i, dict) and i.get("type") == "error"]
        assert not [e for e in errors if e.get("fatal") or e.get("code") != "rate_limited"], errors

        # asks for pixels: the answer, then JPEGs within a second
        asked = time.monotonic()
        await ws.send(json.dumps({"type": "set-render", "mode": "pixels", "reason": "test: lost context"}))
        after = await receive_for(ws, 5.0, until=lambda i: not isinstance(i, dict)
                                  and i.kind is MediaKind.VIDEO)
        first_jpeg_s = time.monotonic() - asked
        renders = [i for i in after if isinstance(i, dict) and i.get("type") == "render"]
        assert renders and renders[0]["mode"] == "pixels" and "lost context" in renders[0]["reason"]
        assert kinds(after).get(MediaKind.VIDEO, 0) == 1, kinds(after)
        assert first_jpeg_s < 1.0, f"the first JPEG came {first_jpeg_s:.2f} s after set-render"


async def test_a_client_that_never_loads_its_assets_gets_pixels_and_keeps_its_session(
        render_server: Any) -> None:
    async with drawing_client(render_server.url) as ws:
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert welcome["render"]["assets_timeout_secs"] == 3.0
        items = await receive_for(ws, 12.0, until=lambda i: not isinstance(i, dict)
                                  and i.kind is MediaKind.VIDEO)
        errors = [i for i in items if isinstance(i, dict) and i.get("type") == "error"]
        assert [e["code"] for e in errors] == ["assets_not_loaded"] and not errors[0]["fatal"]
        assert any(isinstance(i, dict) and i.get("type") == "render" for i in items)
        assert kinds(items).get(MediaKind.VIDEO) == 1, "no JPEG after the switch"
        # a bad assets-loaded now changes nothing and ends nothing: the session goes on
        await ws.send(json.dumps({"type": "assets-loaded", "id": "nope"}))
        later = await receive_for(ws, 2.0)
        assert kinds(later).get(MediaKind.AUDIO, 0) >= 20 and kinds(later).get(MediaKind.VIDEO, 0) >= 10


async def test_the_python_sdk_draws_the_face_assets_fetched_checked_and_motion_received(
        render_server: Any) -> None:
    from sdk.events import AssetsEvent, ErrorEvent
    from sdk.items import BotMotion

    async with await VoiceClient.connect(render_server.url, video_out={"size": 512},
                                         draws_face=True) as client:
        assert (client.welcome.render or {}).get("mode") == "client", client.welcome
        done = asyncio.Event()
        mic = asyncio.create_task(client.send_silence_until(done, timeout_secs=30))
        items: list[Any] = []
        bundle = b""
        loaded_at: float | None = None
        try:
            async with asyncio.timeout(30):
                async for item in client.receive():
                    items.append(item)
                    if isinstance(item, AssetsEvent) and loaded_at is None:
                        bundle = await client.fetch_assets(item)
                        await client.assets_loaded(item.id)
                        loaded_at = time.monotonic()
                    if loaded_at is not None and time.monotonic() - loaded_at > 4.0:
                        break
        finally:
            done.set()
            await mic
    assets = [i for i in items if isinstance(i, AssetsEvent)]
    assert len(assets) == 1 and bundle[:4] == b"AFGL" and len(bundle) == assets[0].bytes
    motions = [i for i in items if isinstance(i, BotMotion)]
    assert len(motions) >= 25 and all(m.assets_serial == assets[0].serial for m in motions)
    assert all(len(m.values) == FACE_MOTION_DIM for m in motions)
    assert not any(isinstance(i, BotVideo) for i in items), "JPEGs to a client that draws"
    errors = [i for i in items if isinstance(i, ErrorEvent)]
    assert not [e for e in errors if e.code != "rate_limited"], errors


async def test_fetch_assets_names_assets_the_server_does_not_have(render_server: Any) -> None:
    from sdk.errors import ClientError
    from sdk.events import AssetsEvent

    async with await VoiceClient.connect(render_server.url, video_out={"size": 256},
                                         draws_face=True) as client:
        wrong = AssetsEvent(portrait="x", id="0" * 64, serial=9, url=f"/assets/{'0' * 64}",
                            format=1, bytes=1)
        with pytest.raises(ClientError, match="cannot fetch"):
            await client.fetch_assets(wrong)
