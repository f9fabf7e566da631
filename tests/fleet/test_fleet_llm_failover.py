"""LLM failover in a real fleet (issue 37): a dead LLM replica is left after one turn.

A real Ray cluster on loopback: a head with the LLM pool (two replicas of the
embedded llama.cpp server on SmolLM2, each its own process) and one kiosk machine
of one CPU, loading the real models through the product's own `load_runtime`. A
real v2 client talks to it through the public URL. The llama.cpp process of the
replica the machine uses is killed (SIGKILL, as a crash or the OOM killer would);
the visitor's next question is answered, by the other replica, and the machine
reports the failover in `/fleet`. A turn that fails on the way (none here when the
death falls between turns: the refused turn goes on to the live replica) would
carry the spoken apology; at most one does.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet import loopback
from fleet.local_cluster import local_fleet
from fleet.settings import FleetSettings
from pipelines.speech.llm import APOLOGY
from sdk.client import VoiceClient
from sdk.events import ErrorEvent
from sdk.talk import talk

pytestmark = pytest.mark.e2e

QUESTIONS = ("What are your opening hours on Sunday?", "Where can I find the shoes?",
             "Thank you very much.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((loopback.LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _fleet_status(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/fleet", timeout=10) as response:
        return dict(json.loads(response.read()))


def _port(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port is not None, url
    return port


def _llm_server_pids(port: int) -> list[int]:
    """The llama.cpp server processes listening on `port` (agent/llm_server.py's command)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"agent.llama_cpp_server" in argv and b"--port" in argv:
            if argv[argv.index(b"--port") + 1] == str(port).encode():
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def fleet_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from fleet.launch import start_fleet
    from pipelines.settings import Settings

    temp_dir = Path("/tmp") / f"rfllm-{tmp_path_factory.getbasetemp().name}"
    port = _free_port()
    try:
        with local_fleet(workers=1, temp_dir=str(temp_dir)):
            settings = Settings.load(llm={"embedded_model": "smollm2"},
                                     avatar={"calibrate_portraits": False})
            # two replicas on the head's one CPU (one llama.cpp thread each)
            start_fleet(FleetSettings(port=port, kiosk_machines=1, llm_replicas=2,
                                      llm_cpus=0.5, max_sessions_per_machine=1), settings)
            yield f"http://{loopback.LOOPBACK}:{port}"
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def say() -> Callable[[str], bytes]:
    from pipelines.speech.models import SpeechModels
    from tests.speech import piper_pcm16k

    piper = SpeechModels.bundled().piper
    return lambda text: piper_pcm16k(piper, text)


async def test_the_turn_after_a_replica_dies_is_answered_by_another(
        fleet_base: str, say: Callable[[str], bytes]) -> None:
    failed_turns: list[str] = []  # replies of turns that got llm_unavailable
    async with await VoiceClient.connect(fleet_base, open_timeout=30.0) as client:
        first = await talk(client, say(QUESTIONS[0]), timeout_secs=120)
        assert first.completed and first.reply_text, first.events
        assert not [e for e in first.events if isinstance(e, ErrorEvent)]
        llm = _fleet_status(fleet_base)["machines"][0]["llm"]
        dead_url = llm["base_url"]
        assert llm["failovers"] == 0
        dead_port = _port(dead_url)
        pids = _llm_server_pids(dead_port)
        assert len(pids) == 1, f"no single llama.cpp process serves {dead_url}: {pids}"
        os.kill(pids[0], signal.SIGKILL)
        killed_at = time.monotonic()
        while _llm_server_pids(dead_port):
            assert time.monotonic() - killed_at < 10, "the killed server is still there"
            await asyncio.sleep(0.1)
        for question in QUESTIONS[1:]:
            result = await talk(client, say(question), timeout_secs=120)
            assert result.completed and result.reply_text, result.events
            errors = [e for e in result.events if isinstance(e, ErrorEvent)]
            if errors:
                assert [e.code for e in errors] == ["llm_unavailable"]
                failed_turns.append(result.reply_text)
        llm = _fleet_status(fleet_base)["machines"][0]["llm"]
    # at most one failed turn for the death, and it was spoken politely, never silence
    assert len(failed_turns) <= 1, failed_turns
    for reply in failed_turns:
        assert "Sorry, I lost my train of thought" in reply, reply
    assert APOLOGY.startswith("Sorry, I lost my train of thought")
    # the machine noticed the death and left the dead process for a live one (the other
    # replica; Serve's replacement could get the freed port again: the process tells)
    serving = _llm_server_pids(_port(llm["base_url"]))
    assert len(serving) == 1 and serving != pids, (llm, serving, pids)
    assert llm["failures"] >= 1 and llm["failovers"] <= 1, llm

