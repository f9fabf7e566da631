"""A server built inside someone else's process leaves that process's logging alone.

Why: uvicorn's own logging setup (`logging.config.dictConfig`) closes every handler
of the process. A fleet machine's direct door is built inside a Ray Serve replica,
and closing Serve's handlers there made Serve unable to recover the replica after a
head restart (`'NoneType' object has no attribute 'baseFilename'`), so the live
sessions were cut (docs/FLEET.md, "The head").
"""

from __future__ import annotations

import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.server.app import make_server
from pipelines.server.runtime import ServerConfig


@pytest.fixture
def host_handler(tmp_path: Path) -> Iterator[logging.handlers.MemoryHandler]:
    """A buffered file handler on a logger of the host process, as Serve's replicas have."""
    target = logging.FileHandler(tmp_path / "host.log")
    handler = logging.handlers.MemoryHandler(100, target=target)
    host = logging.getLogger("host.component")
    host.addHandler(handler)
    yield handler
    host.removeHandler(handler)
    target.close()


async def _app(scope: object, receive: object, send: object) -> None:
    raise AssertionError("never called")


def test_a_server_without_its_own_logging_leaves_the_hosts_handlers_open(
        host_handler: logging.handlers.MemoryHandler) -> None:
    server = make_server(_app, "127.0.0.1", 0, ServerConfig().limits, own_logging=False)
    assert server.config.log_config is None
    assert host_handler.target is not None
    logging.getLogger("host.component").warning("still written")
    host_handler.flush()
    assert "still written" in Path(host_handler.target.baseFilename).read_text()


def test_our_own_server_process_sets_up_uvicorns_logging(
        host_handler: logging.handlers.MemoryHandler) -> None:
    # `avatar-forcing serve` owns its process: uvicorn's access and error logs are set up
    server = make_server(_app, "127.0.0.1", 0, ServerConfig().limits)
    assert server.config.log_config is not None
    assert logging.getLogger("uvicorn").handlers
