"""The kiosk fleet end to end: a real Ray cluster on loopback, real kiosk machines.

A head (Serve's proxy, the shared LLM pool on SmolLM2) and two kiosk worker nodes of
one CPU each (`ray.cluster_utils.Cluster`); every kiosk machine loads the real models
through the product's own `load_runtime`. Real v2 clients talk through the one public
URL. The tests run in file order on one fleet (start-up ~40 s is paid once):
placement and replies, a full fleet's 1013, a machine killed mid-session, a drain.

Each machine's ceiling is 1 conversation here (`max_sessions_per_machine`), so
"full" does not depend on how fast this host is; the measured capacity under the
ceiling is checked in /fleet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet import loopback
from fleet.local_cluster import LocalFleet, local_fleet
from fleet.settings import FleetSettings
from sdk.client import VoiceClient
from sdk.errors import HandshakeError
from sdk.handshake import session_url
from sdk.items import BotVideo, Closed
from sdk.talk import TalkResult, talk

pytestmark = pytest.mark.e2e

QUESTION = "What are your opening hours on Sunday?"
TOKEN = "fleet-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((loopback.LOOPBACK, 0))
        return int(sock.getsockname()[1])


class RunningFleet:
    """The cluster, its public URL and a way to read `/fleet`."""

    def __init__(self, cluster: LocalFleet, port: int) -> None:
        self.cluster = cluster
        self.base = f"http://{loopback.LOOPBACK}:{port}"
        self.ws_url = f"ws://{loopback.LOOPBACK}:{port}/ws"

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base}/fleet", timeout=10) as response:
            return json.loads(response.read())

    def sessions_by_node(self) -> dict[str, int]:
        return {m["node_id"]: m["sessions"] for m in self.status()["machines"]}

    async def wait_for(self, check: Callable[[dict[str, Any]], bool], within: float = 60.0
                       ) -> dict[str, Any]:
        """Poll /fleet until `check` holds (the event loop keeps running meanwhile)."""
        deadline = time.monotonic() + within
        while True:
            status = self.status()
            if check(status):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"/fleet never got there: {status}")
            await asyncio.sleep(0.5)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFleet]:
    from fleet.launch import start_fleet
    from pipelines.settings import Settings

    temp_dir = Path("/tmp") / f"rfe2e-{tmp_path_factory.getbasetemp().name}"
    port = _free_port()
    try:
        with local_fleet(workers=2, temp_dir=str(temp_dir)) as cluster:
            settings = Settings.load(llm={"embedded_model": "smollm2"},
                                     avatar={"calibrate_portraits": False},
                                     server={"auth_token": TOKEN})
            start_fleet(FleetSettings(port=port, kiosk_machines=2, llm_replicas=1,
                                      max_sessions_per_machine=1, retry_after_secs=3.0,
                                      drain_timeout_secs=120.0), settings)
            yield RunningFleet(cluster, port)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def say() -> Callable[[str], bytes]:
    from pipelines.speech.models import SpeechModels
    from tests.speech import piper_pcm16k

    piper = SpeechModels.bundled().piper
    return lambda text: piper_pcm16k(piper, text)


async def _connect(url: str, retry: float = 0.0, token: str | None = TOKEN) -> VoiceClient:
    return await VoiceClient.connect(url, video_out={"size": 256}, busy_retry_secs=retry,
                                     open_timeout=30.0, token=token)


async def _frames_until_closed(client: VoiceClient, seconds: float
                               ) -> tuple[list[float], Closed | None]:
    """Arrival times of video frames for `seconds`, and the close if one came."""
    arrivals: list[float] = []
    closed: Closed | None = None

    async def read() -> None:
        nonlocal closed
        async for item in client.receive():
            if isinstance(item, BotVideo):
                arrivals.append(time.monotonic())
            elif isinstance(item, Closed):
                closed = item
                return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout=seconds)
    return arrivals, closed


async def test_the_token_gates_both_doors(fleet: RunningFleet) -> None:
    direct = fleet.status()["machines"][0]["direct_url"] + "/ws"
    for url in (fleet.ws_url, direct):
        with pytest.raises(HandshakeError) as refused:
            await _connect(url, token=None)
        assert refused.value.code == "unauthorized"


def test_the_fleet_listens_and_talks_on_loopback_only(fleet: RunningFleet) -> None:
    status = fleet.status()
    assert status["totals"]["machines"] == 2
    for machine in status["machines"]:
        assert machine["direct_url"].startswith(f"ws://{loopback.LOOPBACK}:")
        assert machine["capacity"]["capacity_cores"] > 0  # measured on the machine
        assert machine["capacity"]["per_session_cores"] > 0
    ours = _process_tree(os.getpid())
    # listening sockets (-l) and every TCP connection, of this test's process tree
    # (the cluster's processes are its children): the local address column, and for
    # connections the peer's too, must be loopback
    outside = []
    for flags, columns in (("-Htlnp", (3,)), ("-Htnp", (3, 4))):
        table = subprocess.run(["ss", flags], capture_output=True, text=True).stdout
        for line in table.splitlines():
            fields = line.split()
            if any(f"pid={pid}," in line for pid in ours) and not all(
                    fields[c].startswith(("127.", "[::ffff:127.")) for c in columns):
                outside.append(line)
    assert not outside, "\n".join(outside)


async def test_two_clients_land_on_two_machines_and_both_get_a_face_and_a_reply(
        fleet: RunningFleet, say: Callable[[str], bytes]) -> None:
    question = say(QUESTION)
    async with await _connect(fleet.ws_url) as a, await _connect(fleet.ws_url) as b:
        assert sorted(fleet.sessions_by_node().values()) == [1, 1]  # one per machine
        # the fleet is full: a third client is refused with 1013's event and a hint
        with pytest.raises(HandshakeError) as refused:
            await _connect(fleet.ws_url)
        assert refused.value.code == "server_busy"
        assert refused.value.retry_after_s == 3.0
        # ... and so is one that asks the door where to connect (the SDKs' default)
        with pytest.raises(HandshakeError) as full:
            await _connect(fleet.base)
        assert full.value.code == "server_busy" and full.value.retry_after_s == 3.0
        results = await asyncio.gather(talk(a, question, timeout_secs=120),
                                       talk(b, question, timeout_secs=120))
    for result in results:
        assert result.completed and result.reply_text, _exchange(result)
        assert len(result.video) > 25
        assert "sunday" in result.transcript.lower()


async def test_the_kiosk_page_on_the_public_url_talks_through_a_machines_direct_door(
        fleet: RunningFleet, tmp_path: Path) -> None:
    from pipelines.speech.models import SpeechModels
    from tests.browser.chromium import chromium_or_skip, launch_chromium, media_args
    from tests.browser.media import speak, write_fake_camera_y4m, write_fake_mic_wav

    chromium = chromium_or_skip("the kiosk page through the fleet")
    await fleet.wait_for(lambda s: s["totals"]["sessions"] == 0)
    wav = write_fake_mic_wav(tmp_path / "mic.wav",
                             [(3.0, speak(SpeechModels.bundled(), QUESTION)), (14.0, None)])
    y4m = write_fake_camera_y4m(tmp_path / "camera.y4m", seconds=2.0)
    async with launch_chromium(media_args(mic_wav=wav, camera_y4m=y4m), executable=chromium
                               ) as browser:
        page = await browser.new_page()
        await page.goto(f"{fleet.base}/?token={TOKEN}&size=256")
        await page.click("#start")
        deadline = time.monotonic() + 90
        stats: dict[str, Any] = {}
        while time.monotonic() < deadline:
            stats = await page.evaluate("window.kiosk.stats()")
            if any(line["role"] == "bot" for line in stats["captionLines"]) and stats["connected"]:
                break
            await asyncio.sleep(0.5)
        socket_url = await page.evaluate("window.kiosk.client.ws && window.kiosk.client.ws.url")
        machines = fleet.status()["machines"]
    # one public URL for the page; the conversation itself on a machine's own door
    assert stats["connected"] and stats["framesDrawn"] > 25, stats
    assert any(line["role"] == "bot" for line in stats["captionLines"]), stats["captionLines"]
    assert socket_url.split("?")[0] in {f"{m['direct_url']}/ws" for m in machines}, socket_url


async def test_each_machine_exports_its_figures_as_prometheus_metrics(fleet: RunningFleet) -> None:
    import ray

    await fleet.wait_for(lambda s: s["totals"]["sessions"] == 0)  # figures that hold still
    ports = {node["NodeID"]: node["MetricsExportPort"] for node in ray.nodes() if node["Alive"]}
    for machine in fleet.status()["machines"]:
        url = f"http://{loopback.LOOPBACK}:{ports[machine['node_id']]}/metrics"
        wanted = f'node_id="{machine["node_id"]}"'
        exported: list[float] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # Ray exports every few seconds, so it lags
            text = await asyncio.to_thread(_read, url)
            exported = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                        if line.startswith("ray_kiosk_free_slots") and wanted in line]
            if exported == [machine["free"]]:
                break
            await asyncio.sleep(2.0)
        assert exported == [machine["free"]], (
            f"ray_kiosk_free_slots of {machine['node_id'][:8]} at {url}: {exported}, "
            f"/fleet says {machine['free']}")


#: the longest the surviving machine's face may go without a frame while the other is killed
MAX_FRAME_GAP_SECS = 2.5


def _exchange(result: TalkResult) -> str:
    """What the server sent in an exchange, one event a line, for a failed assertion."""
    return "\n".join(event.model_dump_json(exclude_none=True) for event in result.events)


def _read(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


async def test_a_killed_machine_closes_its_session_only_and_the_client_reconnects(
        fleet: RunningFleet, say: Callable[[str], bytes]) -> None:
    await fleet.wait_for(lambda s: s["totals"]["sessions"] == 0)  # the last test's have ended
    async with await _connect(fleet.ws_url) as a:
        a_node = next(node for node, count in fleet.sessions_by_node().items() if count == 1)
        # as the SDKs do, b asks again on a busy answer: a door that has not yet heard a's
        # machine report a's session (a busy box can delay the stats past the router's
        # memory of a's routing) may send b there first
        async with await _connect(fleet.ws_url, retry=30.0) as b:
            b_node = next(node for node, count in fleet.sessions_by_node().items()
                          if count == 1 and node != a_node)
            victim = next(w for w in fleet.cluster.workers if w.node_id == b_node)
            watch_a = asyncio.create_task(_frames_until_closed(a, 8.0))
            await asyncio.sleep(2.0)
            killed_at = time.monotonic()
            fleet.cluster.kill_worker(victim)
            b_frames, b_closed = await _frames_until_closed(b, 15.0)
            a_frames, a_closed = await watch_a
        assert b_closed is not None, "the killed machine's client got no close"
        assert a_closed is None, "the other machine's session was closed"
        after_kill = [t for t in a_frames if t >= killed_at - 1.0]
        gaps = [later - earlier for earlier, later in zip(after_kill, after_kill[1:], strict=False)]
        # the survivor's face keeps coming: a frozen session shows no frame for the rest
        # of the watch (6 s); the kill's own cost to two "machines" on one 2-core host
        # (Ray reaping the dead worker) was a 1.3 s gap once under a loaded suite
        assert after_kill and max(gaps) < MAX_FRAME_GAP_SECS, f"largest frame gap {max(gaps):.2f} s"
    # the client reconnects as the SDKs do, asking the door where (busy until the
    # surviving machine's slot is free again): the survivor's direct door, a fresh
    # session that answers
    await fleet.wait_for(lambda s: s["totals"]["machines"] == 1 and s["totals"]["free"] >= 1)
    survivor = next(m["direct_url"] for m in fleet.status()["machines"])
    assert await session_url(fleet.base) == f"{survivor}/ws"
    async with await _connect(fleet.base, retry=30.0) as again:
        assert fleet.sessions_by_node() == {a_node: 1}
        result = await talk(again, say(QUESTION), timeout_secs=120)
    assert result.completed and result.reply_text, _exchange(result)


async def test_a_drained_machine_takes_no_new_session_and_its_live_one_finishes(
        fleet: RunningFleet, say: Callable[[str], bytes]) -> None:
    from fleet.drain import drain

    await fleet.wait_for(lambda s: s["totals"]["sessions"] == 0)
    fleet.cluster.add_worker()  # Serve places the missing kiosk replica there
    await fleet.wait_for(lambda s: s["totals"]["machines"] == 2 and s["totals"]["free"] == 2,
                   within=150)
    async with await _connect(fleet.ws_url) as live:
        node = next(n for n, count in fleet.sessions_by_node().items() if count == 1)
        draining = asyncio.create_task(drain(node, timeout_secs=120))
        await fleet.wait_for(lambda s: any(m["node_id"] == node and m["draining"]
                                     for m in s["machines"]))
        # a new visitor goes to the other machine, never the drained one (through the
        # proxy here; the session door is checked below)
        other = next(m["direct_url"] for m in fleet.status()["machines"] if m["node_id"] != node)
        assert await session_url(fleet.base) == f"{other}/ws"
        async with await _connect(fleet.ws_url) as newcomer:
            sessions = fleet.sessions_by_node()
            assert sessions[node] == 1 and sum(sessions.values()) == 2
            # ... and the direct door of the drained machine refuses too
            drained_url = next(m["direct_url"] for m in fleet.status()["machines"]
                               if m["node_id"] == node)
            with pytest.raises(HandshakeError) as refused:
                await _connect(f"{drained_url}/ws")
            assert refused.value.code == "server_busy" and "drained" in refused.value.message
            del newcomer
        result = await talk(live, say(QUESTION), timeout_secs=120)  # the live one finishes
        assert result.completed and result.reply_text, _exchange(result)
        assert not draining.done()  # the drain waits for it
    outcome = await asyncio.wait_for(draining, timeout=60)
    assert outcome.drained and outcome.sessions_left == 0


def _process_tree(root: int) -> set[int]:
    """`root` and every process below it (read from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        parents[int(stat.parent.name)] = int(fields[1])
    tree, grew = {root}, True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree
