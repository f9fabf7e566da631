"""A product server in its own process (`avatar-forcing serve`), and waiting for it.

Why here: bench/kiosk/kiosk.py, bench/kiosk/kiosk_turns.py and bench/webrtc/webrtc_kiosk.py all start
the shipped server as a kiosk runs it and drive the page in Chromium; they need a
free port and to know when the server answers /healthz (or why it did not).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchkit.paths import ROOT


def free_port() -> int:
    """A port the OS says is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthz(http: str) -> dict[str, Any]:
    """The server's /healthz."""
    with urllib.request.urlopen(f"{http}/healthz", timeout=5) as response:
        return dict(json.load(response))


def wait_until_healthy(process: subprocess.Popen, http: str, log_name: str,
                       timeout_s: float = 300.0) -> None:
    """Poll /healthz until the server answers and its LLM's prompt cache is warm (a
    bench's first turn is measured warm, as every later one); raise (naming its log)
    if it exits or is not ready in `timeout_s` (the first start joins the LLM and
    loads models)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited; see {log_name}")
        with contextlib.suppress(OSError):
            if not healthz(http).get("warming", False):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start; see {log_name}")
        time.sleep(0.5)


@contextlib.contextmanager
def product_server(port: int, root: Path = ROOT,
                   log_path: Path | None = None) -> Iterator[tuple[str, int]]:
    """`avatar-forcing serve` on its defaults in its own process: (http, pid).

    `python -m` puts `root` first on the import path, so its `pipelines/` package (and
    the page it serves) is the one run; the rest comes from this checkout. Its log
    goes to `log_path` (a temporary file when None).
    """
    log = (log_path.open("w") if log_path is not None else
           tempfile.NamedTemporaryFile("w", prefix="kiosk-serve-", suffix=".log", delete=False))
    process = subprocess.Popen([str(ROOT / ".venv/bin/python"), "-m", "pipelines.cli", "serve",
                                "--port", str(port)],
                               cwd=root, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                               stdout=log, stderr=subprocess.STDOUT)
    http = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, http, log.name)
        yield http, process.pid
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        log.close()
