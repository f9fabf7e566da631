"""`GET /session`: where a client opens its conversation (one machine: its own /ws).

A client that asks first works the same with one machine and with a kiosk fleet,
whose public door answers a machine's direct address instead (tests/fleet/).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import pytest

from sdk.client import VoiceClient
from sdk.errors import ClientError
from sdk.handshake import session_url

pytestmark = pytest.mark.e2e


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _http(server: Any) -> str:
    return server.url.replace("ws://", "http://").removesuffix("/ws")


async def test_one_machine_answers_its_own_websocket(voice_server: Any) -> None:
    base = _http(voice_server)
    answer = await asyncio.to_thread(_get_json, f"{base}/session")
    assert answer == {"ws_url": "/ws", "node_id": None}
    assert await session_url(base) == voice_server.url
    # the SDK given the HTTP address asks the door, then opens the conversation there
    async with await VoiceClient.connect(base) as client:
        assert client.welcome.session_id


async def test_an_unreachable_door_is_a_clear_client_error() -> None:
    with pytest.raises(ClientError, match="cannot ask http://127.0.0.1:9/session"):
        await session_url("http://127.0.0.1:9", http_timeout=2.0)
