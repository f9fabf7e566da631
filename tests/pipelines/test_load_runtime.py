"""The composition root's failure path: what `load_runtime` started, it stops.

A server whose avatar cannot be prepared (here: a default portrait that does not
exist) fails with a ServerError naming it, after the embedded LLM server has
already started; the caller never gets that server's handle, so `load_runtime`
itself must stop it, or a llama.cpp process is left running per failed start.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.server.app import load_runtime
from pipelines.server.errors import ServerError
from pipelines.settings import Settings

pytestmark = pytest.mark.e2e


def llm_server_children() -> set[int]:
    """Pids of this process's children that run the embedded llama.cpp server."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == os.getpid() and b"llama_cpp_server" in cmdline:
            found.add(int(stat.parent.name))
    return found


async def test_an_avatar_that_cannot_load_stops_the_llm_server_it_started() -> None:
    settings = Settings.load(llm={"embedded_model": "smollm2"},
                             avatar={"video": True, "default_portrait": "nobody_by_this_name",
                                     "calibrate_portraits": False})
    before = llm_server_children()
    with pytest.raises(ServerError, match="nobody_by_this_name"):
        await load_runtime(settings=settings, warm_up=False)
    assert llm_server_children() == before
