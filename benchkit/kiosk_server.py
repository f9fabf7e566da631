"""Waiting for a product server started in its own process (`avatar-forcing serve`).

Why here: bench/kiosk.py and bench/kiosk_turns.py both start the shipped server
as a kiosk runs it and drive the page in Chromium; they need a free port and to
know when the server answers /healthz (or why it did not).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from typing import Any


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
    """Poll /healthz until the server answers; raise (naming its log) if it exits or
    does not come up in `timeout_s` (the first start joins the LLM and loads models)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited; see {log_name}")
        with contextlib.suppress(OSError):
            healthz(http)
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start; see {log_name}")
        time.sleep(0.5)
