"""The thread each of our WebRTC tracks is sent from once the peer is connected.

A pacer sends one track's RTP on an `RtpLink` (wire/webrtc/rtp_link.py) at its media
time, whatever the event loop is doing (wire/webrtc/audio_pacer.py for the voice,
video_pacer.py for the face). This base keeps what both share: stopping,
and the way back when the link breaks (the peer left, ICE picked another path, a
packet of ours failed): the link is closed and the track is told on its event loop,
so aiortc's sender sends it again from there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from loguru import logger

from pipelines.wire.webrtc.rtp_link import LinkLost, RtpLink


class PacerThread(threading.Thread):
    """Runs `pace` until stopped or the link is lost, then hands the track back."""

    def __init__(self, name: str, link: RtpLink, loop: asyncio.AbstractEventLoop,
                 on_exit: Callable[[], None]) -> None:
        """`on_exit` is called on `loop` once the thread has stopped sending."""
        super().__init__(name=name, daemon=True)
        self.link = link
        self._loop = loop
        self._on_exit = on_exit
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Ask the thread to end (it ends within one packet or one idle poll)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def sleep(self, secs: float) -> bool:
        """Wait `secs` seconds; True when asked to stop meanwhile."""
        return self._stopping.wait(secs)

    def book_writer_reports(self) -> list[float]:
        """Count what the link's writer process reported (a full socket as dropped
        datagrams; a failed one raises LinkLost) and return its late writes (ms)."""
        reports = self.link.writer_reports()
        if reports is None:
            return []
        stream = self.link.writer_stream
        self.link.counters.datagrams_dropped += reports.dropped.get(stream, 0)
        if stream in reports.failed:
            raise LinkLost("the writer process could not write to the peer's socket")
        return reports.late_ms.get(stream, [])

    def pace(self) -> None:
        """Send until `stopping` (raises LinkLost when the link breaks)."""
        raise NotImplementedError

    def run(self) -> None:
        try:
            self.pace()
        except LinkLost as error:
            logger.info(f"{self.name}: the link is gone ({error}); aiortc sends again")
        except Exception:  # a packet of ours must not end the session: the loop takes over
            logger.exception(f"{self.name} failed; aiortc sends again")
        finally:
            self.link.close()
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._on_exit)


class SentByPacer:
    """What our tracks share about their pacer (mixed into a `MediaStreamTrack`)."""

    #: builds the link a pacer sends on (set by the fitting; None: aiortc sends)
    link_factory: Callable[[], RtpLink | None] | None
    _pacer: PacerThread | None
    _pacer_exited: asyncio.Event

    @property
    def paced_off_loop(self) -> bool:
        """Whether a pacer thread sends this track (not aiortc's loop)."""
        return self._pacer is not None

    def _start_pacer(self) -> None:
        raise NotImplementedError

    async def _wait_while_paced(self) -> None:
        """aiortc's sender asks for a packet: start the pacer (once, when a link is
        offered) and wait while it sends, so aiortc sends nothing of its own; when
        the link breaks, aiortc's turn comes again."""
        if self._pacer is None and self.link_factory is not None:
            self._start_pacer()
        if self._pacer is not None:
            await self._pacer_exited.wait()
