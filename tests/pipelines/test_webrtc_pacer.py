"""The voice sent off the event loop (pipelines/wire/webrtc/audio_pacer.py,
rtp_link.py) and the visitor's voice taken without aiortc's prefetch
(audio_in.py).

Checked on real aiortc peer connections in one process (loopback): the pacer's
packets reach the receiver as one decodable stream, they keep leaving while the
event loop is blocked, a writer is released PACER_LEAD_SECS ahead of its send,
an interruption drops what a paced track holds, and the track goes back to
aiortc's sender when the link goes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket
from pipecat.frames.frames import InterruptionFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import RawAudioTrack, SmallWebRTCTransport

from pipelines.wire.webrtc.audio_in import AUDIO_IN_PREFETCH, trim_audio_prefetch
from pipelines.wire.webrtc.datagram_writer import WRITER_ENV
from pipelines.wire.webrtc.output import MediaClockOutput
from pipelines.wire.webrtc.rtp_link import RtpLink
from pipelines.wire.webrtc.tracks import PACER_LEAD_SECS, PACKET_SECS, MediaClockAudioTrack

RATE = 24_000


def sine(ms: int, hz: float = 440.0, rate: int = RATE) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (8000 * np.sin(2 * np.pi * hz * t)).astype(np.int16).tobytes()


class FakeLink:
    """Records what the pacer sends (the thread it sends from, the media time)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []
        self.threads: set[str] = set()
        self.closed = threading.Event()

    def build(self, payload: bytes, pts: int, sample_rate: int) -> tuple[int, bytes]:
        return pts, payload

    def write(self, datagram: tuple[int, bytes]) -> None:
        self.threads.add(threading.current_thread().name)
        self.sent.append(datagram)

    def close(self) -> None:
        self.closed.set()

    # no writer process: the pacer writes each datagram itself at its time (the
    # writer's own tests: tests/pipelines/test_datagram_writer.py)
    writes_ahead = False

    def start_writer(self) -> bool:
        return False

    def writer_reports(self) -> None:
        return None

    def clear_ahead(self) -> None:
        pass


async def paced_track(link: Any) -> MediaClockAudioTrack:
    """A track whose pacer runs on `link` (started as aiortc's sender starts it)."""
    track = MediaClockAudioTrack(RATE)
    track.link_factory = lambda: link
    receiving = asyncio.ensure_future(track.recv())  # aiortc's sender waits here
    await asyncio.sleep(0.05)
    assert track.paced_off_loop and not receiving.done()
    receiving.cancel()
    return track


async def test_a_paced_track_sends_from_its_thread_at_real_time() -> None:
    link = FakeLink()
    track = await paced_track(link)
    await asyncio.sleep(0.2)
    track.stop()
    assert link.closed.wait(1.0)
    assert link.threads == {"webrtc-audio-pacer"}
    pts = [p for p, _ in link.sent]
    assert pts == [i * round(RATE * PACKET_SECS) for i in range(len(pts))]  # contiguous
    assert 9 <= len(pts) <= 16  # 20 ms packets over ~0.25 s
    assert track.counters.audio_pacer_starts == 1


async def test_the_pacer_keeps_sending_while_the_loop_is_blocked() -> None:
    link = FakeLink()
    track = await paced_track(link)
    written = track.add_audio_bytes(sine(600))
    before = len(link.sent)
    time.sleep(0.3)  # noqa: ASYNC251  (the pipeline holds the event loop)
    during = len(link.sent) - before
    track.stop()
    assert during >= 10  # ~15 packets of 20 ms left while the loop was blocked
    await asyncio.sleep(0)
    assert not written.done() or written.result() is True


async def test_a_writer_is_released_the_lead_ahead_of_its_send() -> None:
    """pipecat writes the next chunk while the pacer still has PACER_LEAD_SECS of
    speech: a loop that late never leaves the voice with a gap."""
    link = FakeLink()
    track = await paced_track(link)
    start = track.media_secs
    first = track.add_audio_bytes(sine(40))
    assert first.done() and first.result() is True  # less than the lead queued: at once
    written = track.add_audio_bytes(sine(400))
    await written
    queued_after_release = (start + 0.44) - track.media_secs
    track.stop()
    assert queued_after_release == pytest.approx(PACER_LEAD_SECS, abs=0.045)


async def test_marks_and_writers_are_answered_on_the_loop() -> None:
    link = FakeLink()
    track = await paced_track(link)
    loop_thread = threading.get_ident()
    seen: list[tuple[float, int]] = []
    track.mark(lambda media_secs: seen.append((media_secs, threading.get_ident())))
    written = track.add_audio_bytes(sine(60))
    assert await asyncio.wait_for(written, 1.0) is True
    await asyncio.sleep(0.15)
    track.stop()
    assert len(seen) == 1 and seen[0][1] == loop_thread
    speech = [p for p, payload in link.sent if p >= seen[0][0] * RATE]
    assert speech  # the image's time is the media time its audio went out at


async def test_an_interruption_drops_what_a_paced_track_holds() -> None:
    connection = SmallWebRTCConnection()
    transport = SmallWebRTCTransport(webrtc_connection=connection, params=TransportParams(
        audio_out_enabled=True))
    fitted = MediaClockOutput.install(transport.output())
    client = transport.output()._client
    client._audio_output_track = RawAudioTrack(sample_rate=RATE)
    connection.replace_audio_track(client._audio_output_track)
    track = client._audio_output_track
    assert isinstance(track, MediaClockAudioTrack) and track.link_factory is not None
    assert track.link_factory() is None  # no peer connection: aiortc would send
    link = FakeLink()
    track.link_factory = lambda: link
    receiving = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.03)
    written = track.add_audio_bytes(sine(1000))
    await transport.output().process_frame(InterruptionFrame(), FrameDirection.DOWNSTREAM)
    assert written.done() and written.result() is False  # dropped, writer released
    assert fitted.audio is track and track.media_secs < 0.2
    track.stop()
    receiving.cancel()


def test_the_audio_receiver_hands_a_packet_on_when_the_next_arrives() -> None:
    """aiortc's own audio buffer waits for four later packets (80 ms); trimmed, one."""
    stock, trimmed = JitterBuffer(capacity=16, prefetch=4), JitterBuffer(16, AUDIO_IN_PREFETCH)
    out: dict[str, list[int]] = {"stock": [], "trimmed": []}
    for seq in range(6):
        packet = RtpPacket(sequence_number=seq, timestamp=seq * 960)
        packet._data = bytes([seq])  # type: ignore[attr-defined]
        for name, buffer in (("stock", stock), ("trimmed", trimmed)):
            _, frame = buffer.add(packet)
            if frame is not None:
                out[name].append(seq)
    assert out["trimmed"] == [1, 2, 3, 4, 5]  # packet n is out when n + 1 arrives
    assert out["stock"] == [4, 5]


async def peers(track: MediaClockAudioTrack) -> tuple[RTCPeerConnection, RTCPeerConnection,
                                                       asyncio.Queue[Any], Any]:
    """A sender with `track` (sent by its pacer) and a receiver, connected."""
    sender_pc, receiver_pc = RTCPeerConnection(), RTCPeerConnection()
    transceiver = sender_pc.addTransceiver(track, direction="sendonly")
    track.link_factory = lambda: RtpLink.attach(transceiver.sender, transceiver._codecs[0])
    frames: asyncio.Queue[Any] = asyncio.Queue()

    @receiver_pc.on("track")
    def on_track(received: Any) -> None:
        async def pump() -> None:
            while True:
                try:
                    frames.put_nowait(await received.recv())
                except Exception:
                    return
        asyncio.ensure_future(pump())

    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await receiver_pc.setRemoteDescription(sender_pc.localDescription)
    assert trim_audio_prefetch(receiver_pc) == 1
    await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
    await sender_pc.setRemoteDescription(receiver_pc.localDescription)
    return sender_pc, receiver_pc, frames, transceiver


def loud_frames(frames: asyncio.Queue[Any]) -> list[np.ndarray]:
    """The frames the receiver has decoded so far (taken) that carry the tone."""
    decoded = []
    while not frames.empty():
        decoded.append(frames.get_nowait().to_ndarray().astype(np.float64))
    return [f for f in decoded if np.sqrt(np.mean(f ** 2)) > 1000]


async def packets_lost(receiver_pc: RTCPeerConnection) -> int:
    """What the receiver counts as lost of the voice's packets (gaps in the sequence)."""
    stats = await receiver_pc.getStats()
    inbound = [s for s in stats.values() if s.type == "inbound-rtp"]
    assert inbound
    return int(inbound[0].packetsLost)


async def writer_pacer(track: MediaClockAudioTrack, frames: asyncio.Queue[Any]) -> Any:
    """Once the receiver decodes: the track's pacer, which hands a writer process its
    datagrams."""
    await flowing(frames)
    pacer = track._pacer
    assert pacer is not None and pacer.link.writer is not None
    return pacer


async def flowing(frames: asyncio.Queue[Any], count: int = 5) -> None:
    """Wait (at most 10 s) until the receiver has decoded `count` frames."""
    deadline = time.monotonic() + 10
    while frames.qsize() < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("writer", ["writer-process", "pacer-writes"])
async def test_the_pacer_sends_one_decodable_stream_to_a_real_peer(
        writer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the link's writer process (the default) and without it (the pacer thread
    writes): one decodable stream, no packet lost, sent while the loop is blocked."""
    monkeypatch.setenv(WRITER_ENV, "1" if writer == "writer-process" else "0")
    track = MediaClockAudioTrack(RATE)
    sender_pc, receiver_pc, frames, transceiver = await peers(track)
    try:
        await flowing(frames)
        assert track.paced_off_loop and track.counters.audio_pacer_starts == 1
        pacer = track._pacer
        assert pacer is not None and (pacer.link.writer is not None) == (writer == "writer-process")
        # with nothing queued the pacer pads with silence, built only just ahead (so a
        # reply that comes is sent in the next slot)
        assert track.due(track.media_secs) - time.monotonic() <= 2 * PACKET_SECS
        track.add_audio_bytes(sine(400))
        sent_before = transceiver.sender._RTCRtpSender__packet_count
        time.sleep(0.2)  # noqa: ASYNC251  (the loop is blocked: the pacer still sends)
        assert transceiver.sender._RTCRtpSender__packet_count - sent_before >= 7
        if writer == "writer-process":  # speech is handed over ahead of its time
            ahead = track.due(track.media_secs) - time.monotonic()
            assert ahead > 3 * PACKET_SECS, ahead
        await asyncio.sleep(0.6)
        assert len(loud_frames(frames)) >= 15  # ~400 ms of the tone, heard
        assert await packets_lost(receiver_pc) == 0
    finally:
        await sender_pc.close()
        await receiver_pc.close()
    await asyncio.sleep(0.1)
    assert not track.paced_off_loop  # the link went with the peer


async def test_a_reconnect_hands_the_sender_to_the_new_track() -> None:
    """pipecat installs new tracks when a peer connects again: the old track's pacer
    ends (one thread per SSRC) and aiortc's pending recv on it returns."""
    connection = SmallWebRTCConnection()
    transport = SmallWebRTCTransport(webrtc_connection=connection, params=TransportParams(
        audio_out_enabled=True))
    fitted = MediaClockOutput.install(transport.output())
    client = transport.output()._client
    connection.replace_audio_track(RawAudioTrack(sample_rate=RATE))
    old = fitted.audio
    assert old is not None
    link = FakeLink()
    old.link_factory = lambda: link
    pending = asyncio.ensure_future(old.recv())  # aiortc's sender waits in it
    await asyncio.sleep(0.05)
    assert old.paced_off_loop
    connection.replace_audio_track(RawAudioTrack(sample_rate=RATE))
    assert link.closed.is_set()  # the old pacer ended before the new track took over
    await asyncio.wait_for(pending, 1.0)  # aiortc moves on to the new track
    assert client._audio_output_track is fitted.audio is not old
    assert fitted.audio.link_factory is not None


async def test_a_voice_at_a_rate_libopus_does_not_take_is_paced_as_opus() -> None:
    """The bundled voice speaks at 22,050 Hz: the pacer resamples and encodes it."""
    from av import AudioFrame, CodecContext, Packet

    link = FakeLink()
    track = MediaClockAudioTrack(22_050)
    track.link_factory = lambda: link
    receiving = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0.02)
    track.add_audio_bytes(sine(300, rate=22_050)[:30 * 440])  # 30 chunks of 220 samples
    await asyncio.sleep(0.45)
    track.stop()
    receiving.cancel()
    assert link.closed.wait(1.0)
    assert [p for p, _ in link.sent] == [i * 441 for i in range(len(link.sent))]
    decoder = CodecContext.create("opus", "r")
    levels = []
    for _, payload in link.sent:
        for frame in decoder.decode(Packet(payload)):
            assert isinstance(frame, AudioFrame)
            levels.append(float(np.sqrt(np.mean(frame.to_ndarray().astype(np.float64) ** 2))))
    assert len(levels) == len(link.sent)
    assert sum(level > 0.05 for level in levels) >= 12  # ~300 ms of the tone (float samples)


async def test_the_voice_goes_on_when_its_writer_process_dies() -> None:
    """The pacer thread writes again itself (the datagrams the dead process held are
    lost, as a network would lose them); the call does not end."""
    track = MediaClockAudioTrack(RATE)
    sender_pc, receiver_pc, frames, _ = await peers(track)
    try:
        pacer = await writer_pacer(track, frames)
        os.kill(pacer.link.writer.pid, signal.SIGKILL)
        track.add_audio_bytes(sine(600))
        await asyncio.sleep(0.9)
        assert track._pacer is pacer and pacer.link.writer is None
        assert len(loud_frames(frames)) >= 15  # most of the 600 ms tone, heard
    finally:
        await sender_pc.close()
        await receiver_pc.close()


async def test_an_interruption_leaves_no_gap_in_the_voices_sequence() -> None:
    """The writer process holds packets built ahead; an interruption drops them and the
    pacer builds those slots again with the same numbers, so the receiver loses none
    (aiortc's own jitter buffer held every later packet back by such a gap)."""
    track = MediaClockAudioTrack(RATE)
    sender_pc, receiver_pc, frames, _ = await peers(track)
    try:
        await writer_pacer(track, frames)
        track.add_audio_bytes(sine(1000))
        await asyncio.sleep(0.3)
        assert track.due(track.media_secs) - time.monotonic() > 3 * PACKET_SECS  # built ahead
        before = track.media_secs
        track.clear()  # as an InterruptionFrame does
        await asyncio.sleep(0.5)
        assert track.media_secs < before + 0.5  # the dropped slots were built again
        assert await packets_lost(receiver_pc) == 0
    finally:
        await sender_pc.close()
        await receiver_pc.close()
