"""A process of its own that writes our WebRTC datagrams at their time.

Why: the pacer threads (wire/webrtc/audio_pacer.py, video_pacer.py) build each
packet in the server process, and a thread there runs only while it holds the
interpreter lock. When something else holds it (a pipeline being built, a reply's
first tokens), the voice was written late, Chromium's audio jitter buffer grew and
held the voice, and the browser's own A/V sync left the mouth ahead for that reply
(docs/PIPECAT.md has the measurements). Here the pacers build datagrams ahead of
their time and hand them to this process, which needs no lock of the server's: it
sleeps until each datagram's time and writes it to the peer's UDP socket (a
duplicate of the ICE pair's, passed over a Unix socket). A stall of the server
shorter than the pacers' lead no longer moves a packet.

One process serves all the links of a peer connection (its voice and its face, and
a reconnect's next track), each link a stream of its own (`lease_writer`): one
process wakes once for a voice packet and the frame due with it, where one process a
link woke twice.

Messages from the server, one per SOCK_SEQPACKET datagram (its boundaries kept):
`S` a socket (the descriptor rides along) and its peer address for a stream, `D` a
datagram to write at a monotonic time, `C` drop a stream's datagrams due after a
time (an interruption: the server sends those slots again), `X` a stream has ended
(its socket is closed once its last datagram is written). Back to the server: `L` a
write later than the reported bound, `K` a datagram the socket would not take, `E` a
stream's socket failed. When the server closes its end, what is pending is written
at its time and the process exits.
"""

from __future__ import annotations

import array
import heapq
import json
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

#: datagrams in one message at most (a video frame's go together, in as few as fit)
BATCH = 32
#: the largest message: BATCH RTP datagrams (each at most the path's MTU) and headers
MAX_MESSAGE = 64 * 1024
#: `D`: stream, due (monotonic s), then each datagram's length and bytes; `C`: stream,
#: the time after which its datagrams are dropped; `L`: stream, late ms; `K`/`E`/`X`: stream
_DUE = struct.Struct("<Bd")
_LENGTH = struct.Struct("<H")
_STREAM = struct.Struct("<B")
_LATE = struct.Struct("<Bd")
#: a write later than this after its time is reported (the pacers' WRITE_LATE_MS)
REPORT_LATE_MS = 10.0
#: how long the server waits for the process to start and say it is ready
START_TIMEOUT_SECS = 5.0
#: set to 0, the pacer threads write their datagrams themselves (no process; the
#: benches compare both in one run)
WRITER_ENV = "AVATAR_FORCING_DATAGRAM_WRITER"


def writer_wanted() -> bool:
    """Whether the links start writer processes (WRITER_ENV is not "0")."""
    return os.environ.get(WRITER_ENV, "1").strip() != "0"


class WriterGone(ConnectionError):
    """The writer process ended or its socket failed: send from the server again."""


@dataclass
class WriterReports:
    """What the process reported, per stream, since the server last asked."""

    late_ms: dict[int, list[float]] = field(default_factory=dict)
    dropped: dict[int, int] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)

    def take(self, stream: int) -> WriterReports:
        """Remove and return `stream`'s part (the rest stays for its own link)."""
        part = WriterReports()
        if stream in self.late_ms:
            part.late_ms[stream] = self.late_ms.pop(stream)
        if stream in self.dropped:
            part.dropped[stream] = self.dropped.pop(stream)
        if stream in self.failed:
            self.failed.discard(stream)
            part.failed.add(stream)
        return part


class DatagramWriter:
    """The server's end of one writer process (thread-safe: each pacer thread sends
    its own stream, the event loop clears one)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                # isolated (-I): the script needs the standard library alone, and
                # neither its folder nor the environment may shadow any of it
                [sys.executable, "-I", os.path.abspath(__file__), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._socket = ours
        self._lock = threading.Lock()
        #: reported but not yet asked for by the stream's own link (`reports(stream)`)
        self._unread = WriterReports()
        #: messages the process's full socket would not take (lost, as a network loses)
        self.lost_sends = 0
        ready, _, _ = select.select([ours], [], [], START_TIMEOUT_SECS)
        if not ready or ours.recv(MAX_MESSAGE) != b"R":
            self.close()
            raise WriterGone("the datagram writer process did not start")
        ours.setblocking(False)

    @property
    def pid(self) -> int:
        return self._process.pid

    def use_socket(self, stream: int, sock: socket.socket, address: Any) -> None:
        """Write `stream`'s datagrams on `sock` (its descriptor is passed; the caller
        keeps its own) to `address` from now on."""
        payload = b"S" + _STREAM.pack(stream) + json.dumps(list(address)).encode()
        self._send(payload, [sock.fileno()])

    def send(self, stream: int, due: float, *datagrams: bytes) -> None:
        """Write `datagrams` on `stream`'s socket at monotonic time `due` (at once if
        past), one after another; a stream's datagrams go out in the order sent."""
        for start in range(0, len(datagrams), BATCH):
            parts = [b"D", _DUE.pack(stream, due)]
            for data in datagrams[start:start + BATCH]:
                parts += [_LENGTH.pack(len(data)), data]
            self._send(b"".join(parts))

    def clear(self, stream: int, after: float = float("-inf")) -> None:
        """Drop `stream`'s datagrams not yet written whose time is after `after`
        (monotonic s; all by default)."""
        self._send(b"C" + _DUE.pack(stream, after))

    def end_stream(self, stream: int) -> None:
        """`stream`'s link has ended: the process closes its socket once the
        datagrams it holds for it are written."""
        self._send(b"X" + _STREAM.pack(stream))

    @property
    def alive(self) -> bool:
        """Whether the process runs and its socket is open (a new link may use it)."""
        return self._socket.fileno() >= 0 and self._process.poll() is None

    def reports(self, stream: int | None = None) -> WriterReports:
        """What the process reported since the last call (never waits): all
        streams', or only `stream`'s (the others' kept for their own links, whose
        pacer threads ask at the same time: so the lock is held throughout)."""
        with self._lock:
            while True:
                try:
                    message = self._socket.recv(MAX_MESSAGE)
                except OSError:  # nothing waiting (BlockingIOError) or the socket closed
                    break
                if not message:
                    break
                self._book(message)
            if stream is None:
                everything, self._unread = self._unread, WriterReports()
                return everything
            return self._unread.take(stream)

    def _book(self, message: bytes) -> None:
        """Add one report of the process's to those not yet asked for."""
        kind, body, out = message[:1], message[1:], self._unread
        if kind == b"L":
            stream, late = _LATE.unpack(body)
            out.late_ms.setdefault(stream, []).append(late)
        elif kind == b"K":
            (stream,) = _STREAM.unpack(body)
            out.dropped[stream] = out.dropped.get(stream, 0) + 1
        elif kind == b"E":
            (stream,) = _STREAM.unpack(body)
            out.failed.add(stream)

    def close(self) -> None:
        """Close the server's end: the process writes what is pending and exits (and
        is reaped in the background, leaving no zombie in a long-running server)."""
        with self._lock:
            if self._socket.fileno() < 0:
                return
            self._socket.close()
        threading.Thread(target=self._process.wait, name="datagram-writer-reaper",
                         daemon=True).start()

    def wait(self, timeout: float) -> int | None:
        """The process's exit status once it has ended within `timeout` s, else None."""
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _send(self, payload: bytes, fds: list[int] | None = None) -> None:
        try:
            with self._lock:
                if fds:
                    socket.send_fds(self._socket, [payload], fds)
                else:
                    self._socket.send(payload)
        except BlockingIOError:  # the process is far behind: this datagram is lost
            self.lost_sends += 1
        except OSError as error:
            raise WriterGone(f"the datagram writer is gone ({error})") from error


#: a stream's number is one byte
MAX_STREAMS = 256


@dataclass
class _Shared:
    """A writer process and the streams its peer connection's links hold on it."""

    writer: DatagramWriter
    streams: set[int] = field(default_factory=set)
    next_stream: int = 0


#: each peer connection's writer (keyed by its DTLS transport), while a link uses it
_SHARED: weakref.WeakKeyDictionary[Any, _Shared] = weakref.WeakKeyDictionary()
_SHARED_LOCK = threading.Lock()


@dataclass
class WriterLease:
    """One link's stream on the writer process its peer connection's links share."""

    writer: DatagramWriter
    stream: int
    _key: Any = field(repr=False)

    def release(self) -> None:
        """The link has ended: its stream ends after its last datagram, and the
        process's end is closed with the last stream's."""
        with _SHARED_LOCK:
            shared = _SHARED.get(self._key)
            if shared is None or shared.writer is not self.writer:
                self.writer.close()  # a writer that died was replaced
                return
            shared.streams.discard(self.stream)
            last = not shared.streams
            if last:
                del _SHARED[self._key]
        try:
            if last:
                self.writer.close()
            else:
                self.writer.end_stream(self.stream)
        except WriterGone:
            pass


def lease_writer(key: Any) -> WriterLease:
    """A stream of its own on `key`'s writer process (`key`: the peer connection's
    DTLS transport, so its voice and face share one), which starts on the first lease
    or when the last one died (raises WriterGone or OSError where none can start)."""
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is None or not shared.writer.alive:
            shared = _SHARED[key] = _Shared(DatagramWriter())
        if len(shared.streams) >= MAX_STREAMS:
            raise WriterGone("the peer connection's writer has no stream left")
        stream = shared.next_stream
        while stream in shared.streams:
            stream = (stream + 1) % MAX_STREAMS
        shared.next_stream = (stream + 1) % MAX_STREAMS
        shared.streams.add(stream)
        return WriterLease(shared.writer, stream, key)


# ----------------------------------------------------------------- the process
class _Streams:
    """The process's side: sockets, and the datagrams waiting for their time."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.sockets: dict[int, tuple[socket.socket, Any]] = {}
        #: (due, order, stream, datagrams) in the order of their time
        self.pending: list[tuple[float, int, int, list[bytes]]] = []
        self._order = 0
        self.failed: set[int] = set()
        #: streams whose link ended: their socket closes once nothing of theirs is pending
        self.ending: set[int] = set()

    def take(self, message: bytes, fds: list[int]) -> None:
        kind, body = message[:1], message[1:]
        if kind == b"D":
            stream, due = _DUE.unpack_from(body)
            datagrams, at = [], _DUE.size
            while at < len(body):
                (length,) = _LENGTH.unpack_from(body, at)
                datagrams.append(body[at + _LENGTH.size:at + _LENGTH.size + length])
                at += _LENGTH.size + length
            self._order += 1
            heapq.heappush(self.pending, (due, self._order, stream, datagrams))
        elif kind == b"S":
            (stream,) = _STREAM.unpack_from(body)
            old = self.sockets.pop(stream, None)
            if old is not None:
                old[0].close()
            address = tuple(json.loads(body[_STREAM.size:]))
            self.sockets[stream] = (socket.socket(fileno=fds.pop(0)), address)
            self.failed.discard(stream)
            self.ending.discard(stream)
        elif kind == b"X":
            (stream,) = _STREAM.unpack_from(body)
            self.ending.add(stream)
        elif kind == b"C":
            stream, after = _DUE.unpack_from(body)
            self.pending = [entry for entry in self.pending
                            if entry[2] != stream or entry[0] <= after]
            heapq.heapify(self.pending)
        for fd in fds:  # descriptors no message asked for
            os.close(fd)

    def write_due(self) -> None:
        """Write every datagram whose time has come, in order."""
        while self.pending and self.pending[0][0] <= time.monotonic():
            due, _, stream, datagrams = heapq.heappop(self.pending)
            target = self.sockets.get(stream)
            if target is None or stream in self.failed:
                continue
            for data in datagrams:
                try:
                    target[0].sendto(data, target[1])
                except BlockingIOError:
                    self._report(b"K" + _STREAM.pack(stream))
                except OSError:
                    self.failed.add(stream)
                    self._report(b"E" + _STREAM.pack(stream))
                    break
            if stream in self.failed:
                continue
            late_ms = 1000 * (time.monotonic() - due)
            if late_ms > REPORT_LATE_MS:
                self._report(b"L" + _LATE.pack(stream, late_ms))
        if self.ending:
            self._close_ended()

    def _close_ended(self) -> None:
        """Close the sockets of ended streams that have nothing left to write."""
        waiting = {entry[2] for entry in self.pending}
        for stream in self.ending - waiting:
            target = self.sockets.pop(stream, None)
            if target is not None:
                target[0].close()
            self.failed.discard(stream)
        self.ending &= waiting

    def _report(self, message: bytes) -> None:
        try:
            self.control.send(message, socket.MSG_DONTWAIT)
        except OSError:  # the server is gone or not reading: nothing to tell
            pass


def serve(control: socket.socket) -> None:
    """Write datagrams at their time until the server closes its end and none is left."""
    streams = _Streams(control)
    control.send(b"R")
    open_ = True
    while open_ or streams.pending:
        wait = None if not streams.pending else max(0.0, streams.pending[0][0] - time.monotonic())
        if open_:
            ready, _, _ = select.select([control], [], [], wait)
        else:
            time.sleep(wait or 0.0)
            ready = []
        while ready:
            try:
                message, fds = _receive(control)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                message, fds = b"", []
            if not message:
                open_ = False
                break
            streams.take(message, list(fds))
        streams.write_due()


def _receive(control: socket.socket) -> tuple[bytes, list[int]]:
    """One message and the descriptors riding on it, without waiting (3.11's
    `socket.recv_fds` drops its flags and would block)."""
    fds = array.array("i")
    message, ancillary, _, _ = control.recvmsg(MAX_MESSAGE, socket.CMSG_LEN(4 * fds.itemsize),
                                               socket.MSG_DONTWAIT)
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    return message, list(fds)


def main(argv: list[str]) -> None:
    control = socket.socket(fileno=int(argv[0]))
    control.setblocking(True)
    serve(control)


if __name__ == "__main__":
    main(sys.argv[1:])
