"""One client slot of a soak: a scripted spoken conversation, again and again, that
reconnects through the fleet's door whenever its session ends or is lost.

Why the bench does its own reconnect: it was written before the SDK's
`connect(reconnect=...)` landed (926cdc1), and that one reopens after a close,
which a frozen machine never sends (websockets' keepalive notices after 20-40 s);
the ledger also wants each session booked apart. This loop asks `/session` again
at once (`?resume=1` after a lost session, as both SDKs do, so the fleet's spare slots
take it), then every 0.5 s while the fleet is busy or unreachable, and books every
session, turn and failure in the soak's ledger (benchkit/fleet/soak_ledger.py).

A frozen machine (a cut network) sends neither frames nor a close, so a session
with no face frame for `stall_secs` counts as lost and the client moves on, as a
kiosk page that watches its video would. Every session is real: a v2 client
(sdk/), a 256 px face, questions spoken by the bundled piper voice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchkit.fleet.fleet_probe import FleetDoor
from benchkit.fleet.soak_ledger import BIG_GAP_MS, Incident, Session
from sdk.client import VoiceClient
from sdk.errors import ClientError, HandshakeError
from sdk.events import ErrorEvent
from sdk.handshake import session_url
from sdk.items import BotVideo, Closed
from sdk.talk import talk

#: error events that a fault explains and the ledger counts elsewhere (a failed turn)
LLM_FAILED = "llm_unavailable"


@dataclass(frozen=True)
class SoakClock:
    """Seconds since the soak started; `at` converts a `time.monotonic()` reading."""

    t0: float = field(default_factory=time.monotonic)

    def __call__(self) -> float:
        return time.monotonic() - self.t0

    def at(self, monotonic: float) -> float:
        return monotonic - self.t0


class NodeDirectory:
    """Which node a direct door belongs to: its port, looked up in `GET /fleet` (again
    on a miss: a replacement machine opens a new port)."""

    def __init__(self, door: FleetDoor) -> None:
        self.door = door
        self._nodes: dict[int, str] = {}

    async def node_of(self, ws_url: str) -> str:
        """The node id behind `ws_url` ("?PORT" if /fleet does not list it)."""
        port = urllib.parse.urlparse(ws_url).port or 0
        if port not in self._nodes:
            with contextlib.suppress(OSError, ValueError):
                status = await asyncio.to_thread(self.door.status)
                for machine in status["machines"]:
                    url = urllib.parse.urlparse(machine["direct_url"])
                    self._nodes[url.port or 0] = machine["node_id"]
        return self._nodes.get(port, f"?{port}")


@dataclass
class SlotBooks:
    """Where every slot writes: the soak's sessions and incidents, and how busy it was."""

    sessions: list[Session] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    busy_refusals: int = 0
    closing: set[asyncio.Task[Any]] = field(default_factory=set)


class _Watch:
    """Frames and closes of one session, as they arrive (times on the soak's clock)."""

    def __init__(self, session: Session, clock: SoakClock, books: SlotBooks) -> None:
        self.session, self.clock, self.books = session, clock, books
        self.last: float | None = None
        self.closed: Closed | None = None

    def item(self, item: Any) -> None:
        if isinstance(item, BotVideo):
            t = self.clock.at(item.received_at)
            if self.last is None:
                self.session.first_frame = t
            else:
                gap = 1000.0 * (t - self.last)
                self.session.gap_max_ms = max(self.session.gap_max_ms, gap)
                if gap > BIG_GAP_MS:
                    self.session.big_gaps.append((round(t, 2), round(gap)))
            self.last = t
        elif isinstance(item, Closed):
            self.closed = item
        elif isinstance(item, ErrorEvent) and item.code != LLM_FAILED:
            self.books.incidents.append(Incident(self.clock(), self.session.slot,
                                                 f"error event {item.code}: {item.message[:80]}"))

    async def read(self, client: VoiceClient, secs: float) -> None:
        """Take what arrives for `secs` (between turns the face keeps streaming)."""
        async def drain() -> None:
            async for item in client.receive():
                self.item(item)
                if isinstance(item, Closed):
                    return

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drain(), timeout=secs)


async def _conversation(client: VoiceClient, watch: _Watch, questions: Sequence[bytes],
                        first: int, turns: int, clock: SoakClock) -> None:
    await watch.read(client, 1.0)
    for turn in range(turns):
        if watch.closed is not None:
            return
        result = await talk(client, questions[(first + turn) % len(questions)],
                            timeout_secs=45.0, on_item=watch.item)
        if watch.closed is not None:
            return  # lost mid-turn: booked as a lost session, not a failed turn
        failed = not result.completed or any(
            isinstance(e, ErrorEvent) and e.code == LLM_FAILED for e in result.events)
        if failed:  # booked when seen: a turn started just before a fault fails of it
            watch.session.failed_turns.append(clock())
        else:
            watch.session.turns_ok += 1
        await watch.read(client, 1.0)


async def _open(door_http: str, slot: int, clock: SoakClock, books: SlotBooks,
                resuming: bool) -> tuple[VoiceClient, str] | bool:
    """One attempt at a session through the door's `/session` (`resuming`: after a lost
    session, as the SDKs ask, which may take the fleet's spare slots); after a refusal,
    True when it was `server_busy` (the fleet is full), else False."""
    try:
        url = await session_url(door_http, http_timeout=5.0, resuming=resuming)
        client = await VoiceClient.connect(url, video_out={"size": 256}, open_timeout=5.0)
        return client, url
    except HandshakeError as error:
        if error.code == "server_busy":
            books.busy_refusals += 1
            return True
        books.incidents.append(Incident(clock(), slot, f"refused: {error.code}"))
    except ClientError as error:
        books.incidents.append(Incident(clock(), slot, f"connect: {str(error)[:100]}"))
    return False


async def client_slot(slot: int, door: FleetDoor, questions: Sequence[bytes], *, turns: int,
                      clock: SoakClock, stop: asyncio.Event, books: SlotBooks,
                      nodes: NodeDirectory, stall_secs: float = 3.0) -> None:
    """Conversations of `turns` questions in a row until `stop`; every session booked."""
    first, busy, resuming = slot * turns, 0, False
    while not stop.is_set():
        opened = clock()
        attempt = await _open(door.base, slot, clock, books, resuming)
        if isinstance(attempt, bool):
            busy += attempt
            await asyncio.sleep(0.5)
            continue
        client, url = attempt
        session = Session(slot=slot, node=await nodes.node_of(url), opened=opened,
                          busy_before=busy)
        busy = 0
        books.sessions.append(session)
        watch = _Watch(session, clock, books)
        task = asyncio.create_task(_conversation(client, watch, questions, first, turns, clock))
        first += turns
        stalled = False
        while not task.done():
            await asyncio.wait({task}, timeout=0.25)
            quiet_since = watch.last if watch.last is not None else opened
            if not task.done() and (stop.is_set() or clock() - quiet_since > stall_secs):
                stalled = not stop.is_set()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        session.ended = clock()
        error = None if task.cancelled() else task.exception()
        if stalled:
            session.outcome, session.reason = "lost", f"frozen: no frame for {stall_secs:g} s"
        elif watch.closed is not None:
            session.outcome = "lost"
            code = watch.closed.code or "1006, no close frame"  # a dead machine sends none
            session.reason = f"closed {code} {watch.closed.reason[:60]}".strip()
        elif error is not None:
            session.outcome, session.reason = "lost", f"client error {type(error).__name__}"
        elif not task.cancelled():
            session.outcome = "completed"
        if session.first_frame is None and session.outcome != "running":
            books.incidents.append(Incident(session.ended, slot,
                                            f"no face frame before the end: {session.reason}"))
        resuming = session.outcome == "lost"
        closing = asyncio.create_task(client.close())  # a frozen peer never answers the close
        books.closing.add(closing)
        closing.add_done_callback(books.closing.discard)
