"""One track's RTP (Opus or VP8), sent from any thread straight to the peer's UDP socket.

Why: aiortc sends every RTP packet from the event loop (its sender awaits the
track, packetizes, SRTP-protects and writes the datagram there), so whenever the
pipeline keeps the loop busy the voice and the images leave late and then in a
burst: the browser's jitter buffers grow, and it holds the voice back to the
video's. `RtpLink` lets a pacer thread (pipelines/wire/webrtc/audio_pacer.py,
video_pacer.py) send instead: the same SSRC, payload type and header
extensions as aiortc's sender for that track, SRTP with keys exported again from
the same DTLS session into a session of its own, and the datagram written to a
duplicate of the ICE pair's socket. aiortc's sender keeps sending the RTCP sender
reports and answering NACKs; the link updates the counters and the packet history
those read, so the RTP-to-wall-clock mapping a receiver syncs by stays true.

Only a host or server-reflexive UDP pair is written to directly. When the peer's ICE
agent nominates another pair mid-call (Chromium does, often in the first second),
the link follows it: the same SRTP session, sequence numbers and timestamps go on,
on the new pair's socket, or, where that pair is a TURN relay (which wraps each
datagram), through aiortc's ICE connection on the event loop. Handing the track
back to aiortc's sender instead would restart it at the sequence number and
timestamp it had stopped at: the receiver drops those packets as replays and the
video freezes. So the link is lost only with the DTLS session (the peer left).
A TURN relay at the start: `attach` returns None and aiortc sends as before.

A sender keeps one SRTP session for all the links it is given (a reconnect that
replaces the track keeps the SSRC and the DTLS session): libsrtp counts the
rollover of the sequence numbers in that session, and a fresh one would start it
at 0 again, which the receiver cannot decrypt after the first 65,536 packets. A retransmission
without RTX is protected by aiortc's own SRTP session, which guesses the rollover
counter from 0: after 65,536 packets on one SSRC (about 4 minutes of 512 px video)
such a retransmission would not decrypt; Chromium negotiates RTX for video, whose
retransmissions go on their own SSRC through aiortc's session alone.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

from aioice.ice import StunProtocol
from aiortc import clock
from aiortc.codecs import get_encoder
from aiortc.rtp import RtpPacket
from loguru import logger
from pylibsrtp import Policy, Session

from pipelines.wire.webrtc.datagram_writer import (
    DatagramWriter,
    WriterGone,
    WriterLease,
    WriterReports,
    lease_writer,
    writer_wanted,
)

#: the codecs a link sends, and the RTP clock each is stamped on (RFC 7587, 7741)
LINK_CLOCKS = {"audio/opus": 48_000, "video/vp8": 90_000}
#: aiortc's sender keeps this many packets for retransmission (rtcrtpsender.py)
RTP_HISTORY_SIZE = 128
#: the ICE component that carries RTP (and RTCP, multiplexed)
RTP_COMPONENT = 1
#: one NTP second (the 64-bit NTP time's fraction is 32 bits)
NTP_SECOND = 1 << 32


@dataclass(frozen=True)
class RtpDatagram:
    """One packet, built and SRTP-protected, waiting for its time."""

    packet: RtpPacket
    data: bytes


class LinkLost(ConnectionError):
    """The link cannot send any more: the DTLS session closed (the peer left) or its
    socket failed."""


class SenderSrtp:
    """The SRTP session a sender's links protect with, one at a time (a link ending
    and the next one starting may overlap for a moment)."""

    def __init__(self, dtls: Any) -> None:
        self.dtls = dtls
        self._session = Session(tx_policy(dtls))
        self._lock = threading.Lock()

    def protect(self, packet: bytes) -> bytes:
        with self._lock:
            data: bytes = self._session.protect(packet)
            return data


#: each aiortc sender's SRTP session, for as long as the sender lives
_SENDER_SRTP: weakref.WeakKeyDictionary[Any, SenderSrtp] = weakref.WeakKeyDictionary()


def sender_srtp(sender: Any) -> SenderSrtp:
    """The SRTP session of `sender`'s links (made on first use, and again when the
    sender's DTLS session is another)."""
    srtp = _SENDER_SRTP.get(sender)
    if srtp is None or srtp.dtls is not sender.transport:
        srtp = _SENDER_SRTP[sender] = SenderSrtp(sender.transport)
    return srtp


@dataclass
class LinkCounters:
    """What one kind's links did, over all of them (one pacer thread writes at a time):
    reported with the tracks' counters, so a full socket or a new ICE path shows."""

    #: datagrams the socket would not take (full) or written between two nominations
    datagrams_dropped: int = 0
    #: ICE pairs nominated after a link's first one, followed
    ice_pairs_followed: int = 0


class RtpLink:
    """Sends one codec's payloads as aiortc's sender for one track would."""

    def __init__(self, sender: Any, codec: Any, srtp: SenderSrtp, pair: Any,
                 loop: asyncio.AbstractEventLoop, counters: LinkCounters | None = None) -> None:
        #: this link's stream on the process that writes its datagrams at their time
        #: (`start_writer`; shared by the links of the peer connection)
        self._lease: WriterLease | None = None
        self._sender = sender
        self._dtls = sender.transport
        self.codec = codec
        self._payload_type: int = codec.payloadType
        self._clock: int = LINK_CLOCKS[codec.mimeType.lower()]
        self._srtp = srtp
        self._loop = loop
        self._connection = self._dtls.transport._connection
        self._pair: Any = None
        self._address: Any = None
        self._socket: socket.socket | None = None
        self._follow(pair)
        self._mid = sender._RTCRtpSender__mid
        self._extensions = self._dtls._rtp_header_extensions_map
        self._sequence, self._timestamp_origin = _continue_after(sender, self._clock)
        self.counters = counters if counters is not None else LinkCounters()

    @classmethod
    def attach(cls, sender: Any, codec: Any, counters: LinkCounters | None = None) -> RtpLink | None:
        """A link for aiortc's `sender` (an RTCRtpSender whose negotiated `codec` is
        Opus or VP8), or None when its transport is not one this link can send on;
        it counts into `counters` (the kind's, kept over links) when given."""
        try:
            if codec is None or codec.mimeType.lower() not in LINK_CLOCKS:
                return None
            dtls = sender.transport
            if dtls.state != "connected":
                return None
            pair = dtls.transport._connection._nominated.get(RTP_COMPONENT)
            if pair is None or type(pair.protocol) is not StunProtocol:
                return None
            return cls(sender, codec, sender_srtp(sender), pair, asyncio.get_running_loop(), counters)
        except (AttributeError, KeyError, OSError, RuntimeError, StopIteration, TypeError,
                ValueError):
            return None  # aiortc's internals changed, the socket is gone, or no loop

    def start_writer(self) -> bool:
        """Hand this link's datagrams to the peer connection's writer process from now
        on (wire/webrtc/datagram_writer.py: no wait for the interpreter lock at their time);
        False where none could be started, and the link writes them itself."""
        if self.writer is not None:
            return True
        if not writer_wanted():
            return False
        try:
            self._lease = lease_writer(self._dtls)
        except (OSError, WriterGone) as error:
            logger.warning(f"webrtc: no datagram writer process ({error}); the pacer writes")
            return False
        if self._socket is not None:
            self._writer_follows()
        return self.writer is not None

    @property
    def writes_ahead(self) -> bool:
        """Whether a datagram may be handed to `write` before its time (a writer
        process writes it at its `due`); else the caller waits for its time."""
        return self.writer is not None and self._socket is not None

    @property
    def writer(self) -> DatagramWriter | None:
        """The writer process this link's datagrams are handed to (None: the pacer
        writes them itself)."""
        return None if self._lease is None else self._lease.writer

    @property
    def writer_stream(self) -> int:
        """This link's stream on its writer process (reports are keyed by it)."""
        return -1 if self._lease is None else self._lease.stream

    def writer_reports(self) -> WriterReports | None:
        """What the writer process reported of this link's stream since the last call
        (None: no writer)."""
        return None if self.writer is None else self.writer.reports(self.writer_stream)

    def clear_ahead(self, after: float, first_sequence: int) -> None:
        """Drop the datagrams handed over for times after `after` (not yet written),
        and send again from `first_sequence`, the first of them: the next datagram
        built takes its number, and the sender's history forgets the dropped ones, so
        a receiver (or the link after this one) sees no gap in the sequence."""
        if self.writer is None:
            return
        try:
            self.writer.clear(self.writer_stream, after)
        except WriterGone:
            self._lose_writer()
        history = self._sender._RTCRtpSender__rtp_history
        dropped = (self._sequence - first_sequence) & 0xFFFF
        for offset in range(min(dropped, RTP_HISTORY_SIZE)):
            number = (first_sequence + offset) & 0xFFFF
            packet = history.get(number % RTP_HISTORY_SIZE)
            if packet is not None and packet.sequence_number == number:
                del history[number % RTP_HISTORY_SIZE]
        self._sequence = first_sequence

    def send(self, payload: bytes, pts: int, sample_rate: int) -> None:
        """Send one payload whose media time is `pts` samples at `sample_rate`."""
        self.write(self.build(payload, pts, sample_rate))

    def sender_encoder(self) -> Any:
        """aiortc's encoder object on the sender (made if it has none yet): its `pack`
        packetizes a pre-encoded frame, and the receiver's bitrate estimate (REMB)
        lands on it, so the link and aiortc share one picture id sequence."""
        encoder = self._sender._RTCRtpSender__encoder
        if encoder is None:
            encoder = get_encoder(self.codec)
            self._sender._RTCRtpSender__encoder = encoder
        return encoder

    def build(self, payload: bytes, pts: int, sample_rate: int,
              marker: bool = False) -> RtpDatagram:
        """The SRTP datagram of one payload (media time `pts` samples at
        `sample_rate`; `marker` on the last packet of a video frame), ready for
        `write`; datagrams are written in the order built."""
        timestamp = (self._timestamp_origin + pts * self._clock // sample_rate) & 0xFFFFFFFF
        packet = RtpPacket(payload_type=self._payload_type, marker=int(marker),
                           sequence_number=self._sequence, timestamp=timestamp,
                           ssrc=self._sender._ssrc, payload=payload)
        packet.extensions.abs_send_time = (clock.current_ntp_time() >> 14) & 0x00FFFFFF
        packet.extensions.mid = self._mid
        self._sequence = (self._sequence + 1) & 0xFFFF
        return RtpDatagram(packet, self._srtp.protect(packet.serialize(self._extensions)))

    def write(self, datagram: RtpDatagram, due: float | None = None) -> None:
        """Write a built datagram to the peer at monotonic time `due` (None: now), and
        count it for the sender reports. With `writes_ahead` it is handed to the
        writer process at once; otherwise this waits for `due` first."""
        self.write_all([datagram], due)

    def write_all(self, datagrams: list[RtpDatagram], due: float | None = None) -> None:
        """`write` for several datagrams with one time (a video frame's packets), one
        after another, handed to the writer process together."""
        if not datagrams:
            return
        if self._dtls.state != "connected":
            raise LinkLost("the DTLS session closed")
        pair = self._connection._nominated.get(RTP_COMPONENT)
        if pair is not self._pair:
            if pair is None:  # between two nominations: nowhere to send these
                self.counters.datagrams_dropped += len(datagrams)
                return
            self._follow(pair)
            self.counters.ice_pairs_followed += 1
        if due is None or not self._hand_to_writer([d.data for d in datagrams], due):
            wait = 0.0 if due is None else due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            for datagram in datagrams:
                self._write_now(datagram.data)
        sender = self._sender
        for datagram in datagrams:
            packet = datagram.packet
            sender._RTCRtpSender__rtp_history[packet.sequence_number % RTP_HISTORY_SIZE] = packet
            sender._RTCRtpSender__octet_count += len(packet.payload)
            sender._RTCRtpSender__packet_count += 1
        # what aiortc's RTCP loop puts in its sender reports: the last packet's RTP
        # time against the wall clock it leaves at
        ahead = 0.0 if due is None else max(0.0, due - time.monotonic())
        sender._RTCRtpSender__ntp_timestamp = clock.current_ntp_time() + round(ahead * NTP_SECOND)
        sender._RTCRtpSender__rtp_timestamp = datagrams[-1].packet.timestamp

    def close(self) -> None:
        """Close the duplicate socket (the loop's own stays open) and the writer
        process's end (it writes what it holds at its time, then exits)."""
        self._close_socket()
        self._release_writer()

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _write_now(self, data: bytes) -> None:
        if self._socket is None:  # a relayed pair: aiortc's ICE connection sends it
            asyncio.run_coroutine_threadsafe(self._send_on_loop(data), self._loop)
            return
        try:
            self._socket.sendto(data, self._address)
        except BlockingIOError:
            self.counters.datagrams_dropped += 1
        except OSError as error:
            raise LinkLost(str(error)) from error

    def _hand_to_writer(self, data: list[bytes], due: float) -> bool:
        """Give `data` to the writer process for `due`; False where it cannot take it."""
        if not self.writes_ahead or not data:
            return False
        assert self.writer is not None
        try:
            lost = self.writer.lost_sends
            self.writer.send(self.writer_stream, due, *data)
            self.counters.datagrams_dropped += self.writer.lost_sends - lost
            return True
        except WriterGone:
            self._lose_writer()
            return False

    def _writer_follows(self) -> None:
        """Tell the writer process the socket and address to write on."""
        if self.writer is None or self._socket is None:
            return
        try:
            self.writer.use_socket(self.writer_stream, self._socket, self._address)
        except WriterGone:
            self._lose_writer()

    def _lose_writer(self) -> None:
        """The writer process is gone: this link writes its datagrams itself again."""
        logger.warning("webrtc: the datagram writer process is gone; the pacer writes")
        self._release_writer()

    def _release_writer(self) -> None:
        """Give this link's stream back (the process ends with its last stream)."""
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.release()

    def _follow(self, pair: Any) -> None:
        """Send on `pair` from now on: on a duplicate of its UDP socket, or (a TURN
        relay, whose protocol wraps each datagram) through the ICE connection."""
        self._close_socket()
        self._pair, self._address = pair, pair.remote_addr
        if type(pair.protocol) is StunProtocol:
            fd = os.dup(pair.protocol.transport.get_extra_info("socket").fileno())
            # the duplicate shares the loop's non-blocking file: never change its mode here
            self._socket = socket.socket(fileno=fd)
            self._writer_follows()

    async def _send_on_loop(self, data: bytes) -> None:
        try:
            await self._connection.sendto(data, RTP_COMPONENT)
        except (ConnectionError, OSError):
            self.counters.datagrams_dropped += 1


def tx_policy(dtls: Any) -> Policy:
    """An outbound SRTP policy with the keys aiortc's DTLS transport sends with."""
    policy = Policy(key=_tx_key(dtls), ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                    srtp_profile=_profile(dtls).libsrtp_profile)
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return policy


def _profile(dtls: Any) -> Any:
    """The SRTP profile the DTLS handshake chose."""
    selected = dtls._ssl.get_selected_srtp_profile()
    return next(p for p in dtls._srtp_profiles if p.openssl_profile == selected)


def _tx_key(dtls: Any) -> bytes:
    """The key and salt aiortc's DTLS transport protects what it sends with (exported
    again from the DTLS session, RFC 5764)."""
    profile = _profile(dtls)
    view = dtls._ssl.export_keying_material(
        b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length))
    key: bytes = profile.get_key_and_salt(view, 1 if dtls._role == "server" else 0)
    return key


def _continue_after(sender: Any, clock_rate: int) -> tuple[int, int]:
    """The sequence number and timestamp origin that continue what aiortc already sent
    on this SSRC (a track there before ours), so the receiver sees one stream."""
    history = [p for p in sender._RTCRtpSender__rtp_history.values() if p is not None]
    if not history:
        return random.getrandbits(16), random.getrandbits(32)
    ref = history[0].sequence_number
    last = max(history, key=lambda p: (p.sequence_number - ref + RTP_HISTORY_SIZE) & 0xFFFF)
    # the next packet (media time 0 of ours) 20 ms after the last one aiortc sent
    return (last.sequence_number + 1) & 0xFFFF, (last.timestamp + clock_rate // 50) & 0xFFFFFFFF
