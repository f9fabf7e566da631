"""The kiosk's systemd units, run for real: their own command lines, a real server,
a real `kill -9`, and the page in Chromium reconnecting by itself.

systemd does not run as the service manager in this test machine (PID 1 is not
systemd, and `systemd --user` will not start without it), so what systemd would do
is done here from the units' own text, nothing more: the browser unit's
`ExecStartPre` (`kiosk wait`) runs before the server is up and must return once
it answers; the server unit's `ExecStart` starts the server; the browser unit's
`ExecStart` opens the kiosk page (plus headless and fake-device flags: this machine
has no screen, camera or microphone; its camera plays a real recorded person who
walks up and stays, tests/kiosk_scene.py), and he is greeted. Then the server's
main process is killed with SIGKILL, the rest of its process group with it
(`KillMode=control-group`), and after the unit's `RestartSec` its `ExecStart` runs
again (`Restart=always`); the page, never touched, must reconnect to the new server
by itself, and the visitor still in front of it is greeted again (the new server's
own visit counters on /metrics say so). The unit files' restart
settings themselves are checked in tests/pipelines/test_kiosk_install.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchkit.browser_media import write_fake_mic_wav
from pipelines.cli import main
from pipelines.kiosk.systemd_units import BROWSER_UNIT, SERVER_UNIT, unit_command
from tests.browser.chromium import BASE_ARGS, chromium_or_skip, media_args
from tests.kiosk_scene import VisitScene, default_clip, write_visit_y4m

pytestmark = pytest.mark.e2e

#: the camera: a short empty room, then he walks up and stays long enough to be there
#: through the server's death and restart (5 images a second at 320x240: a small file)
SCENE = VisitScene(fps=5, empty_s=2.0, walk_in_s=2.0, stay_s=75.0, walk_out_s=1.0, tail_s=1.0)


def greeted(origin: str) -> float:
    """The server's count of visitors greeted since it started (its /metrics)."""
    try:
        with urllib.request.urlopen(f"{origin}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    return next((float(line.split()[1]) for line in text.splitlines()
                 if line.startswith("avatar_forcing_kiosk_visitors_greeted_total ")), 0.0)


def healthz(origin: str) -> dict[str, Any] | None:
    """/healthz, or None while nothing answers."""
    try:
        with urllib.request.urlopen(f"{origin}/healthz", timeout=2) as response:
            return dict(json.load(response))
    except (OSError, ValueError):
        return None


def wait_for(test: Any, within: float) -> float:
    """Seconds until `test()` is true; fails the test past `within`."""
    start = time.monotonic()
    while not test():
        assert time.monotonic() - start < within, f"not within {within:g} s"
        time.sleep(0.2)
    return time.monotonic() - start


def unit_setting(text: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}="))


def unit_environment(text: str) -> dict[str, str]:
    return dict(line.split("=", 1)[1].split("=", 1) for line in text.splitlines()
                if line.startswith("Environment="))


@contextlib.contextmanager
def started(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`argv` in a process group of its own, as a unit's cgroup; all of it killed after."""
    with log.open("w") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_the_units_start_the_kiosk_and_a_killed_server_comes_back_to_the_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_endpoint: Any) -> None:
    chromium = chromium_or_skip("the kiosk unit's browser command")
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    config = tmp_path / "kiosk.toml"  # the test's LLM, already running: a faster boot
    config.write_text(f'[llm]\nbase_url = "{llm_endpoint.base_url}"\nmodel = "smollm2"\n')
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    origin = f"http://127.0.0.1:{port}"
    assert main(["kiosk", "install", "--user", "--port", str(port), "--config", str(config),
                 "--browser", chromium]) == 0
    units = home / ".config/systemd/user"
    server_text, browser_text = ((units / n).read_text() for n in (SERVER_UNIT, BROWSER_UNIT))
    serve, wait = unit_command(server_text, "ExecStart"), unit_command(browser_text, "ExecStartPre")
    page = unit_command(browser_text, "ExecStart")
    restart_secs = float(unit_setting(server_text, "RestartSec"))
    assert unit_setting(server_text, "Restart") == "always"
    env = {**os.environ, **unit_environment(server_text), "HF_HUB_OFFLINE": "1"}
    camera = write_visit_y4m(tmp_path / "visit.y4m", default_clip(), SCENE, width=320, height=240)
    mic = write_fake_mic_wav(tmp_path / "mic.wav", [(SCENE.seconds, None)])  # a quiet room
    headless = ["--headless=new", *BASE_ARGS, *media_args(mic_wav=mic, camera_y4m=camera)]
    page = [*page[:-1], *headless, page[-1]]  # the unit's flags, then these, then the URL

    with started(wait, env, tmp_path / "wait.log") as waiting:
        time.sleep(2.0)
        assert waiting.poll() is None, "kiosk wait returned before the server was up"
        with started(serve, env, tmp_path / "serve-1.log") as server:
            boot_secs = wait_for(lambda: healthz(origin) is not None, 300)
            assert waiting.wait(timeout=30) == 0  # the wait returned once /healthz answered
            with started(page, env, tmp_path / "browser.log"):
                # the page connected by itself: nobody tapped, a presence session is live,
                # and the visitor who walked up was greeted
                wait_for(lambda: (healthz(origin) or {}).get("sessions") == 1, 90)
                wait_for(lambda: greeted(origin) >= 1, 60)
                os.kill(server.pid, signal.SIGKILL)
                killed_at = time.monotonic()
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGKILL)  # KillMode=control-group: the rest
                server.wait(timeout=30)
                assert healthz(origin) is None
                time.sleep(restart_secs)
                with started(serve, env, tmp_path / "serve-2.log"):  # Restart=always
                    wait_for(lambda: healthz(origin) is not None, 300)
                    back_secs = time.monotonic() - killed_at
                    reconnect_secs = wait_for(
                        lambda: (healthz(origin) or {}).get("sessions") == 1, 90)
                    # the new server knows nothing of him and greets him again
                    greeted_again_secs = reconnect_secs + wait_for(
                        lambda: greeted(origin) >= 1, 60)
    print(f"server boot {boot_secs:.1f} s; after kill -9 answering again in {back_secs:.1f} s "
          f"(RestartSec {restart_secs:g} s included); the page back in a session "
          f"{reconnect_secs:.1f} s after that, the visitor greeted again "
          f"{greeted_again_secs:.1f} s after that")
