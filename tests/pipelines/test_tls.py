"""TLS: the server speaks https and wss with a certificate and key from the settings.

A page served over https may not open ws:// (mixed content), so every door a page
reaches must have TLS. Checked here with a self-signed lab certificate made on the
spot (tests/tls.py), trusted by each client and nothing else:

* bad files (missing, not PEM, a key of another certificate, one of the two) are
  refused at start-up with the file and the problem named, by the settings and by
  `avatar-forcing serve` itself;
* the real server with the avatar, on loopback with TLS: the Python SDK asks
  `/session` over https, opens wss and gets its welcome and the face's first frames;
  a client that does not trust the certificate, or speaks plain ws, gets nothing;
* the kiosk page over https in real headless Chromium, told to trust exactly this
  certificate's key (`--ignore-certificate-errors-spki-list`), opens wss and draws
  the face; without that flag Chromium refuses the page;
* `avatar-forcing serve --tls-cert --tls-key`, the real command in a process of its
  own, answers a conversation over wss.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from pipelines.door_tls import TLSFileError, check_tls_files
from pipelines.settings import Settings
from pipelines.settings.sections import ServerSettings
from sdk.connection import VoiceConnection
from sdk.errors import ClientError
from sdk.items import BotVideo
from tests.browser.chromium import chromium_or_skip, launch_chromium, media_args
from tests.pipelines.conftest import free_port
from tests.tls import LabCertificate, make_lab_certificate

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("avatar-forcing")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> LabCertificate:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""
    return make_lab_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def other_lab(tmp_path_factory: pytest.TempPathFactory) -> LabCertificate:
    """A second certificate: its key belongs to no other certificate."""
    return make_lab_certificate(tmp_path_factory.mktemp("tls_other"), name="other")


# --------------------------------------------------------------------- bad input, at start-up


def test_the_pair_loads_and_neither_means_plain(lab: LabCertificate) -> None:
    files = check_tls_files(lab.cert_file, lab.key_file)
    assert files is not None and files.cert_file == lab.cert_file
    assert check_tls_files(None, None) is None
    assert ServerSettings().tls() is None
    assert ServerSettings(tls_cert_file=lab.cert_file, tls_key_file=lab.key_file).tls() == files


@pytest.mark.parametrize("missing", ["tls_key_file", "tls_cert_file"])
def test_one_of_the_two_is_refused_naming_the_other(lab: LabCertificate, missing: str) -> None:
    given = {"tls_cert_file": lab.cert_file, "tls_key_file": lab.key_file}
    given.pop(missing)
    with pytest.raises(ValidationError, match=f"server.{missing} is not"):
        ServerSettings(**given)


def test_a_missing_file_is_named(lab: LabCertificate, tmp_path: Path) -> None:
    with pytest.raises(TLSFileError, match=f"tls_cert_file not found: {tmp_path}/nope.pem"):
        check_tls_files(tmp_path / "nope.pem", lab.key_file)
    with pytest.raises(TLSFileError, match="tls_key_file is not a file"):
        check_tls_files(lab.cert_file, tmp_path)


def test_a_file_that_is_not_pem_is_named(lab: LabCertificate, tmp_path: Path) -> None:
    der = tmp_path / "cert.der"
    der.write_bytes(b"\x30\x82\x01\x0a not a PEM file")
    with pytest.raises(TLSFileError, match="tls_cert_file .*cert.der is not a PEM certificate"):
        check_tls_files(der, lab.key_file)
    # the two swapped: a certificate where the key should be
    with pytest.raises(TLSFileError, match="tls_key_file .* is not a PEM private key"):
        check_tls_files(lab.cert_file, lab.cert_file)


def test_a_key_of_another_certificate_is_refused(lab: LabCertificate,
                                                 other_lab: LabCertificate) -> None:
    with pytest.raises(TLSFileError, match="is not the private key of the certificate"):
        check_tls_files(lab.cert_file, other_lab.key_file)


def test_relative_paths_in_a_config_file_are_the_files(lab: LabCertificate,
                                                       tmp_path: Path) -> None:
    folder = lab.cert_file.parent
    config = folder / "server.toml"
    config.write_text(f'[server]\ntls_cert_file = "{lab.cert_file.name}"\n'
                      f'tls_key_file = "{lab.key_file.name}"\n')
    settings = Settings.load(config)
    assert settings.server.tls() is not None
    assert settings.server.tls_cert_file == lab.cert_file


def test_serve_refuses_a_mismatched_key_at_start_up(lab: LabCertificate,
                                                    other_lab: LabCertificate) -> None:
    """The real command exits 1 with one line naming the key, before loading anything."""
    result = subprocess.run(
        [str(CLI), "serve", "--port", str(free_port()), "--tls-cert", str(lab.cert_file),
         "--tls-key", str(other_lab.key_file)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1, result.stderr[-2000:]
    assert f"server.tls_key_file {other_lab.key_file} is not the private key" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------- the real server over TLS


def https_status(url: str, lab: LabCertificate) -> int:
    """GET `url` trusting only the lab certificate; the HTTP status."""
    with urllib.request.urlopen(url, timeout=10, context=lab.client_context()) as response:
        return int(response.status)


@pytest.fixture(scope="module")
def tls_server(video_runtime: Any, start_server: Any, lab: LabCertificate) -> Any:
    """The real server with the avatar, https and wss only, on a loopback port."""
    from pipelines.server.app import ServerConfig

    return start_server(video_runtime, ServerConfig(max_sessions=2),
                        tls=check_tls_files(lab.cert_file, lab.key_file))


@pytest.mark.e2e
async def test_sdk_over_wss_gets_welcome_and_face(tls_server: Any, lab: LabCertificate) -> None:
    assert tls_server.http.startswith("https://")
    # the page and /healthz over https, with only this certificate trusted
    assert await asyncio.to_thread(https_status, f"{tls_server.http}/healthz", lab) == 200
    # asked at the https address, /session answers /ws: the SDK opens wss
    connection = await VoiceConnection.connect(tls_server.http, video_out={"size": 256},
                                               ssl_context=lab.client_context(),
                                               open_timeout=60)
    try:
        assert connection.welcome.session_id
        assert connection.video_out is not None and connection.video_out["width"] == 256
        frames = 0
        async with asyncio.timeout(60):
            async for item in connection.receive():
                if isinstance(item, BotVideo):
                    frames += 1
                    if frames >= 3:
                        break
        assert frames == 3
    finally:
        await connection.close()


@pytest.mark.e2e
async def test_untrusted_or_plain_clients_get_nothing(tls_server: Any) -> None:
    # the system's authorities do not know a lab certificate
    with pytest.raises(ClientError, match="CERTIFICATE_VERIFY_FAILED"):
        await VoiceConnection.connect(tls_server.url, ssl_context=ssl.create_default_context(),
                                      open_timeout=10)
    # plain ws:// to the TLS port: no handshake
    plain = tls_server.url.replace("wss://", "ws://")
    with pytest.raises(ClientError, match="answers only wss://"):
        await VoiceConnection.connect(plain, open_timeout=10)


def faces_in_png(png: bytes) -> int:
    """1 when the face landmarker finds a face in the screenshot, else 0."""
    from avatar.face_analysis import FaceAnalyzer

    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    with FaceAnalyzer(mode="image") as analyzer:
        return 0 if analyzer.analyze(rgb) is None else 1


@pytest.mark.e2e
async def test_kiosk_page_over_https_reaches_the_face_in_chromium(
        tls_server: Any, lab: LabCertificate) -> None:
    chromium = chromium_or_skip("the kiosk page over https")
    page_url = f"{tls_server.http}/?size=256"

    # without being told to trust it, Chromium refuses the lab certificate
    async with launch_chromium(media_args(mic_wav=None, camera_y4m=None),
                               executable=chromium) as browser:
        page = await browser.new_page()
        with pytest.raises(Exception, match="ERR_CERT_AUTHORITY_INVALID"):
            await page.goto(page_url)

    trust_this_key = f"--ignore-certificate-errors-spki-list={lab.spki_sha256}"
    async with launch_chromium([*media_args(mic_wav=None, camera_y4m=None), trust_this_key],
                               executable=chromium) as browser:
        page = await browser.new_page()
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        await page.goto(page_url)
        assert await page.evaluate("location.protocol") == "https:"
        assert await page.evaluate("window.isSecureContext") is True
        await page.click("#start")
        deadline = time.monotonic() + 90
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = await page.evaluate("window.kiosk.stats()")
            if stats["connected"] and stats["framesDrawn"] >= 10:
                break
            await asyncio.sleep(0.25)
        assert stats.get("connected"), f"the page never connected over wss: {stats}"
        assert stats["framesDrawn"] >= 10, f"no face drawn: {stats}"
        assert sockets and all(url.startswith("wss://127.0.0.1:") for url in sockets), sockets
        canvas_png = await page.locator("#avatar").screenshot()
        assert faces_in_png(canvas_png) == 1, "no face found in the canvas screenshot"
        assert page.errors == [], page.errors


# --------------------------------------------------------------------- the real command


@pytest.fixture
def serve_process(lab: LabCertificate, llm_endpoint: Any) -> Iterator[tuple[str, Any]]:
    """`avatar-forcing serve` with TLS, voice only, on the test LLM: (https URL, process)."""
    port = free_port()
    process = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--no-video", "--no-warm-up",
         "--llm-base-url", llm_endpoint.base_url, "--llm-model", "smollm2",
         "--tls-cert", str(lab.cert_file), "--tls-key", str(lab.key_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        yield f"https://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.e2e
async def test_serve_command_speaks_wss(serve_process: tuple[str, Any],
                                        lab: LabCertificate) -> None:
    url, process = serve_process
    deadline = time.monotonic() + 180
    while True:  # the command loads whisper and piper before it listens
        assert process.poll() is None, process.stderr.read()[-3000:]
        try:
            if await asyncio.to_thread(https_status, f"{url}/healthz", lab) == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "avatar-forcing serve did not listen in 180 s"
        await asyncio.sleep(0.5)
    async with await VoiceConnection.connect(url, ssl_context=lab.client_context(),
                                             open_timeout=30) as connection:
        assert connection.welcome.session_id
        assert connection.video_out is None  # --no-video: a voice
