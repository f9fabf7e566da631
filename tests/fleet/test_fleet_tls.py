"""The kiosk fleet with TLS: the public door and the direct door speak https and wss.

A real Ray cluster on loopback (a head with Serve's proxy and the LLM pool on
SmolLM2, one kiosk node of one CPU), every door given the same self-signed lab
certificate (tests/tls.py) through `[server] tls_cert_file` / `tls_key_file`, and
real v2 clients that trust that certificate alone:

* `/fleet` and `/session` answer over https, and `/session` hands out the direct
  door as `wss://`;
* a client given the https door follows `/session` to the direct door over wss and
  gets its welcome and the face's frames; a client through the proxy's wss too;
* plain http at the public door gets no answer.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fleet import loopback
from fleet.local_cluster import local_fleet
from fleet.settings import FleetSettings, direct_host
from sdk.connection import VoiceConnection
from sdk.items import BotVideo
from tests.tls import LabCertificate, make_lab_certificate


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((loopback.LOOPBACK, 0))
        return int(sock.getsockname()[1])


def test_direct_host_is_filled_in_per_machine() -> None:
    names = {"node_ip": "10.0.0.11", "hostname": "kiosk-11", "fqdn": "kiosk-11.example.com"}
    assert direct_host(FleetSettings().direct_host, **names) == "10.0.0.11"
    assert direct_host("{fqdn}", **names) == "kiosk-11.example.com"
    assert direct_host("{hostname}.kiosks.example.com", **names) == "kiosk-11.kiosks.example.com"
    with pytest.raises(ValidationError, match="may hold only"):
        FleetSettings(direct_host="{machine}.example.com")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabCertificate:
    return make_lab_certificate(tmp_path_factory.mktemp("fleet_tls"))


@pytest.fixture(scope="module")
def tls_fleet(tmp_path_factory: pytest.TempPathFactory, lab: LabCertificate
              ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(the public door's https URL, what `start_fleet` answered)."""
    from fleet.launch import start_fleet
    from pipelines.settings import Settings

    temp_dir = Path("/tmp") / f"rftls-{tmp_path_factory.getbasetemp().name}"
    port = _free_port()
    try:
        with local_fleet(workers=1, temp_dir=str(temp_dir)):
            settings = Settings.load(llm={"embedded_model": "smollm2"},
                                     avatar={"calibrate_portraits": False},
                                     server={"tls_cert_file": lab.cert_file,
                                             "tls_key_file": lab.key_file})
            info = start_fleet(FleetSettings(port=port, kiosk_machines=1, llm_replicas=1,
                                             max_sessions_per_machine=2), settings)
            yield f"https://{loopback.LOOPBACK}:{port}", info
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def _get_json(url: str, lab: LabCertificate) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10, context=lab.client_context()) as response:
        return dict(json.loads(response.read()))


async def _welcome_and_frames(url: str, lab: LabCertificate) -> VoiceConnection:
    # the node has one CPU: the face's admission (avatar/live/capacity.py) takes one
    # session at a time there, so a client waits for the last one to be let go
    connection = await VoiceConnection.connect(url, video_out={"size": 256}, open_timeout=30,
                                               busy_retry_secs=30,
                                               ssl_context=lab.client_context())
    frames = 0
    async with asyncio.timeout(60):
        async for item in connection.receive():
            if isinstance(item, BotVideo):
                frames += 1
                if frames == 3:
                    break
    return connection


@pytest.mark.e2e
async def test_both_doors_speak_tls(tls_fleet: tuple[str, dict[str, Any]],
                                    lab: LabCertificate) -> None:
    door, info = tls_fleet
    assert info["public_url"] == f"{door}/"
    machines = (await asyncio.to_thread(_get_json, f"{door}/fleet", lab))["machines"]
    assert len(machines) == 1
    direct = machines[0]["direct_url"]
    assert direct.startswith(f"wss://{loopback.LOOPBACK}:"), direct
    session = await asyncio.to_thread(_get_json, f"{door}/session", lab)
    assert session["ws_url"] == f"{direct}/ws", session

    # given the https door, the SDK follows /session to the direct door over wss
    via_direct = await _welcome_and_frames(door, lab)
    assert via_direct.welcome.session_id
    status = await asyncio.to_thread(_get_json, f"{door}/fleet", lab)
    assert status["machines"][0]["sessions"] == 1, status
    await via_direct.close()
    # and through the proxy's own wss (once the machine has let the first one go:
    # on a busy CI machine one session's floor cost fills this one-CPU node)
    via_proxy = await _welcome_and_frames(door.replace("https://", "wss://") + "/ws", lab)
    assert via_proxy.welcome.session_id != via_direct.welcome.session_id
    await via_proxy.close()

    # plain http at the TLS door: no HTTP answer
    plain = door.replace("https://", "http://")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        await asyncio.to_thread(lambda: urllib.request.urlopen(f"{plain}/fleet", timeout=10).read())
