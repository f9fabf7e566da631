"""The process that writes our WebRTC datagrams at their time (pipelines/wire/webrtc/datagram_writer.py).

Arrival times are the kernel's (SO_TIMESTAMPNS on the receiving socket), so they
tell when a datagram really left, whatever this process was doing when it read it.
The point of the process: while this (the server's) process holds its interpreter
lock in one long C call, a thread of ours cannot write, and the writer process still
writes each datagram at its time.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from avatar.procfs import open_file_count
from pipelines.wire.webrtc.datagram_writer import BATCH, DatagramWriter, WriterGone, lease_writer

SPACING = 0.02
#: Linux's SO_TIMESTAMPNS (asm-generic/socket.h; Python's socket module lacks it): the
#: kernel stamps each datagram with the time it came in (a timespec)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


@pytest.fixture
def writer() -> Iterator[DatagramWriter]:
    process = DatagramWriter()
    yield process
    process.close()
    assert process.wait(5.0) == 0


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(3.0)
    yield sock
    sock.close()


def sender() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)  # as the ICE pair's socket is
    return sock


def receive(sock: socket.socket, count: int) -> list[tuple[bytes, float]]:
    """`count` datagrams and the monotonic time the kernel took each in."""
    realtime_minus_monotonic = time.time() - time.monotonic()
    out = []
    for _ in range(count):
        data, ancillary, _, _ = sock.recvmsg(2048, 64)
        stamp = next(struct.unpack("qq", raw[:16]) for level, kind, raw in ancillary
                     if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS)
        out.append((data, stamp[0] + stamp[1] / 1e9 - realtime_minus_monotonic))
    return out


def numbered_datagrams(writer: DatagramWriter, out: socket.socket, receiver: socket.socket,
                       count: int) -> list[float]:
    """`count` datagrams b"0", b"1", ... to `receiver` on `out`, SPACING apart from 50 ms
    on; their times."""
    writer.use_socket(0, out, receiver.getsockname())
    start = time.monotonic() + 0.05
    dues = [start + SPACING * i for i in range(count)]
    for index, due in enumerate(dues):
        writer.send(0, due, b"%d" % index)
    return dues


def test_datagrams_leave_in_order_never_before_their_time(
        writer: DatagramWriter, receiver: socket.socket) -> None:
    out = sender()
    dues = numbered_datagrams(writer, out, receiver, 8)
    writer.send(0, dues[0] - 1.0, b"past")  # its time has gone: written at once
    got = receive(receiver, 9)
    assert got[0][0] == b"past"
    assert [data for data, _ in got[1:]] == [b"%d" % i for i in range(8)]
    for (_, arrived), due in zip(got[1:], dues, strict=True):
        assert arrived >= due - 0.002  # the kernel's clock and ours read alike
    reports = writer.reports()
    assert reports.late_ms[0][0] >= 900  # the past one was written late, and said so


def test_the_writer_writes_on_time_while_this_process_holds_its_interpreter_lock(
        writer: DatagramWriter, receiver: socket.socket) -> None:
    """A thread of ours that writes at the same times is held until the lock comes
    back and then writes all at once; the writer process writes each at its time."""
    threaded = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    threaded.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    threaded.bind(("127.0.0.1", 0))
    threaded.settimeout(3.0)
    numbers = [random.random() for _ in range(3_000_000)]
    out = sender()
    dues = numbered_datagrams(writer, out, receiver, 6)

    def write_from_a_thread() -> None:
        for index, due in enumerate(dues):
            time.sleep(max(0.0, due - time.monotonic()))
            out.sendto(b"%d" % index, threaded.getsockname())

    thread = threading.Thread(target=write_from_a_thread)
    thread.start()
    time.sleep(0.01)
    sorted(numbers)  # one C call: the interpreter lock is not let go until it ends
    held_until = time.monotonic()
    thread.join()
    assert held_until > dues[-1] + 0.05, "the sort ended before the datagrams' times"
    by_process = receive(receiver, 6)
    by_thread = receive(threaded, 6)
    threaded.close()
    # the thread's first write waited for the lock: it left after every datagram's time
    assert by_thread[0][1] > dues[-1]
    # the process wrote each before the thread could write its first
    assert all(arrived < by_thread[0][1] for _, arrived in by_process)


def test_a_cleared_stream_drops_what_it_holds_and_closing_writes_the_rest(
        receiver: socket.socket) -> None:
    writer = DatagramWriter()
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(3.0)
    out = sender()
    writer.use_socket(0, out, receiver.getsockname())
    writer.use_socket(1, out, other.getsockname())
    start = time.monotonic() + 0.3
    for index in range(5):
        writer.send(0, start + SPACING * index, b"audio%d" % index)
        writer.send(1, start + SPACING * index, b"video%d" % index)
    writer.clear(0)  # an interruption: stream 0's datagrams not yet written go
    writer.send(0, start + 0.2, b"after")
    writer.close()  # what is pending is still written at its time
    assert [data for data, _ in receive(receiver, 1)] == [b"after"]
    assert [other.recv(100) for _ in range(5)] == [b"video%d" % i for i in range(5)]
    assert writer.wait(5.0) == 0
    other.close()


def test_a_socket_that_fails_is_reported_and_a_dead_writer_is_noticed() -> None:
    writer = DatagramWriter()
    out = sender()
    writer.use_socket(0, out, ("::1", 9))  # an IPv6 peer for an IPv4 socket
    writer.send(0, time.monotonic(), b"x")
    deadline = time.monotonic() + 3.0
    failed: set[int] = set()
    while not failed and time.monotonic() < deadline:
        failed = writer.reports().failed
        time.sleep(0.02)
    assert failed == {0}
    os.kill(writer.pid, signal.SIGKILL)
    assert writer.wait(5.0) == -signal.SIGKILL
    with pytest.raises(WriterGone):
        writer.send(0, time.monotonic(), b"y")
    writer.close()


def test_a_frames_datagrams_go_together_in_order(
        writer: DatagramWriter, receiver: socket.socket) -> None:
    """A video frame's packets are handed over in one call (more than one message's
    worth here) and leave one after another at the frame's time."""
    out = sender()
    writer.use_socket(0, out, receiver.getsockname())
    due = time.monotonic() + 0.05
    frame = [b"packet%03d" % i + bytes(1100) for i in range(BATCH + 8)]
    writer.send(0, due, *frame)
    got = receive(receiver, len(frame))
    assert [data for data, _ in got] == frame
    assert min(arrived for _, arrived in got) >= due - 0.002


class Peer:
    """Stands for a peer connection's DTLS transport, the key its links share."""


def test_the_links_of_one_peer_share_a_writer_each_on_its_own_stream(
        receiver: socket.socket) -> None:
    """A peer connection's links lease streams on one process; each reads only its
    own reports; the process ends with the last lease, and a lease after its writer
    died starts a fresh one."""
    peer, other_peer = Peer(), Peer()
    voice, face = lease_writer(peer), lease_writer(peer)
    elsewhere = lease_writer(other_peer)
    assert voice.writer is face.writer and voice.stream != face.stream
    assert elsewhere.writer is not voice.writer
    out = sender()
    voice.writer.use_socket(voice.stream, out, ("::1", 9))  # fails: reported to voice
    face.writer.use_socket(face.stream, out, receiver.getsockname())
    voice.writer.send(voice.stream, time.monotonic(), b"lost")
    face.writer.send(face.stream, time.monotonic() + 0.05, b"frame")
    assert [data for data, _ in receive(receiver, 1)] == [b"frame"]
    deadline = time.monotonic() + 3.0
    while voice.stream not in voice.writer.reports(voice.stream).failed:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert face.writer.reports(face.stream).failed == set()
    held = open_file_count(voice.writer.pid)
    voice.release()  # its socket closes; the face still writes on the same process
    while open_file_count(voice.writer.pid) != held - 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    face.writer.send(face.stream, time.monotonic(), b"next")
    assert [data for data, _ in receive(receiver, 1)] == [b"next"]
    writer = face.writer
    face.release()
    assert writer.wait(5.0) == 0  # ended with its last stream
    os.kill(elsewhere.writer.pid, signal.SIGKILL)
    assert elsewhere.writer.wait(5.0) == -signal.SIGKILL
    again = lease_writer(other_peer)  # the dead one is not handed out
    assert again.writer is not elsewhere.writer and again.writer.alive
    elsewhere.release()
    assert again.writer.alive  # releasing the dead lease leaves the new one alone
    again.release()
    assert again.writer.wait(5.0) == 0
