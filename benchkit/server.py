"""The product's server (create_app + make_server) on a free loopback port in a thread.

Why here: the in-process benches talk to the real server over a real websocket,
like a kiosk; they start it the same way and stop it with `server.should_exit`.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


def start_server(runtime: Any, config: Any) -> tuple[str, Any, threading.Thread]:
    """uvicorn in a background thread on a free port."""

    from pipelines.server.app import create_app, make_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    app = create_app(runtime, config)
    server = make_server(app, "127.0.0.1", port, config.limits)
    server.config.log_level = "warning"
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"ws://127.0.0.1:{port}/ws", server, thread
