"""The face's VP8 frames sent off the event loop (pipelines/wire/webrtc/video_pacer.py,
video_track.py).

Checked on real aiortc peer connections in one process (loopback): with both
pacers running (their datagrams written by one process), a receiver decodes the
face's frames, stamped with their audio's media time, with no packet lost; the frames keep leaving while the event loop is
blocked (each is released by the audio pacer's thread, not by the loop); when the
ICE agent nominates another pair mid-call the pacers follow it (a relayed pair
through aiortc's ICE connection) and the receiver goes on decoding; a new link on the
same sender keeps the SRTP rollover count past 65,536 packets; a reconnect ends the
old track's pacer; and the track goes back to aiortc when the link goes.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from aioice.ice import CandidatePair, StunProtocol
from aiortc import RTCPeerConnection
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import (
    RawAudioTrack,
    RawVideoTrack,
    SmallWebRTCTransport,
)
from pylibsrtp import Policy, Session

from avatar.live.video_codec import VideoRequest, Vp8Stream
from pipelines.wire.webrtc.output import MediaClockOutput
from pipelines.wire.webrtc.rtp_link import RtpLink, tx_policy
from pipelines.wire.webrtc.tracks import MediaClockAudioTrack
from pipelines.wire.webrtc.video_track import VIDEO_CLOCK, MediaClockVideoTrack

RATE = 24_000
FRAME_MS = 40


def tone(ms: int) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).tobytes()


def face_image(k: int, size: int = 64) -> np.ndarray:
    """A moving bar on grey: each image differs, as a speaking face's do."""
    image = np.full((size, size, 3), 90, np.uint8)
    image[:, (3 * k) % size: (3 * k) % size + 8] = 220
    return image


class Peers:
    """A sender with our audio and video tracks (each sent by its pacer) and a
    receiver that collects the decoded video frames, connected on loopback."""

    def __init__(self) -> None:
        self.audio = MediaClockAudioTrack(RATE)
        self.video = MediaClockVideoTrack(self.audio)
        self.sender_pc, self.receiver_pc = RTCPeerConnection(), RTCPeerConnection()
        self.frames: list[Any] = []

    async def connect(self) -> None:
        audio_tx = self.sender_pc.addTransceiver(self.audio, direction="sendonly")
        video_tx = self.sender_pc.addTransceiver(self.video, direction="sendonly")
        self.video_sender = video_tx.sender
        self.audio.link_factory = lambda: RtpLink.attach(audio_tx.sender, audio_tx._codecs[0])
        self.video.link_factory = lambda: RtpLink.attach(video_tx.sender, video_tx._codecs[0])

        @self.receiver_pc.on("track")
        def on_track(received: Any) -> None:
            if received.kind != "video":
                return

            async def pump() -> None:
                while True:
                    try:
                        self.frames.append(await received.recv())
                    except Exception:
                        return
            asyncio.ensure_future(pump())

        await self.sender_pc.setLocalDescription(await self.sender_pc.createOffer())
        await self.receiver_pc.setRemoteDescription(self.sender_pc.localDescription)
        await self.receiver_pc.setLocalDescription(await self.receiver_pc.createAnswer())
        await self.sender_pc.setRemoteDescription(self.receiver_pc.localDescription)
        deadline = time.monotonic() + 10
        while not (self.audio.paced_off_loop and self.video.paced_off_loop) \
                and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert self.audio.paced_off_loop and self.video.paced_off_loop
        self.video_codec = video_tx._codecs[0]  # negotiated

    async def close(self) -> None:
        await self.sender_pc.close()
        await self.receiver_pc.close()


def speak(peers: Peers, stream: Vp8Stream, frames: int, first: int = 0) -> None:
    """Queue `frames` images, each encoded as the face encodes it, with 40 ms of voice."""
    for k in range(first, first + frames):
        encoded = stream.encode(face_image(k), VideoRequest(
            keyframe=peers.video.take_keyframe_request()))
        peers.video.add_image(face_image(k), encoded.data, encoded.keyframe)
        peers.audio.add_audio_bytes(tone(FRAME_MS))


async def test_the_video_pacer_sends_decodable_frames_on_the_audio_clock() -> None:
    peers = Peers()
    await peers.connect()
    try:
        stream = Vp8Stream()
        start_media = peers.audio.media_secs + 0.1
        speak(peers, stream, 20)
        await asyncio.sleep(1.6)
        # the voice's and the face's datagrams go to one writer process, each link
        # on a stream of its own
        audio_link, video_link = peers.audio._pacer.link, peers.video._pacer.link
        writer = audio_link.writer
        assert writer is not None and video_link.writer is writer
        assert audio_link.writer_stream != video_link.writer_stream
        assert peers.audio.counters.video_pacer_starts == 1
        assert peers.audio.counters.images_preencoded >= 18
        assert len(peers.frames) >= 15
        # stamped with their audio's media time: 40 ms apart on the 90 kHz clock
        steps = np.diff([frame.pts for frame in peers.frames])
        assert np.median(steps) == FRAME_MS * VIDEO_CLOCK // 1000
        assert peers.frames[0].pts >= round(start_media * VIDEO_CLOCK) - 0.2 * VIDEO_CLOCK
        last = peers.frames[-1].to_ndarray(format="rgb24")
        assert last.shape == (64, 64, 3) and last.std() > 20  # the bar, decoded
        stats = await peers.receiver_pc.getStats()
        inbound = [s for s in stats.values() if s.type == "inbound-rtp" and s.kind == "video"]
        assert inbound and inbound[0].packetsLost == 0
    finally:
        await peers.close()
    await asyncio.sleep(0.2)
    assert not peers.video.paced_off_loop  # the link went with the peer
    assert writer.wait(5.0) == 0  # and the writer with its last link


async def test_frames_keep_leaving_while_the_event_loop_is_blocked() -> None:
    peers = Peers()
    await peers.connect()
    try:
        stream = Vp8Stream()
        speak(peers, stream, 5)
        await asyncio.sleep(0.4)
        speak(peers, stream, 15, first=5)
        sent_before = peers.audio.counters.images_sent
        packets_before = peers.video_sender._RTCRtpSender__packet_count
        time.sleep(0.5)  # noqa: ASYNC251  (the pipeline holds the event loop)
        assert peers.audio.counters.images_sent - sent_before >= 8  # ~12 frames of 40 ms
        assert peers.video_sender._RTCRtpSender__packet_count - packets_before >= 8
    finally:
        await peers.close()


class RelayedProtocol(StunProtocol):
    """Stands in for a TURN relay's protocol (any pair the link cannot write to itself):
    it sends as a host pair does, but only through the ICE connection."""


async def test_the_pacers_follow_a_newly_nominated_ice_pair() -> None:
    """Chromium may nominate another candidate pair in the call's first second. The
    links follow it with the same SRTP stream and sequence numbers (aiortc's sender,
    taking over, would have restarted at the numbers it had stopped at: the receiver
    drops those as replays and the video froze)."""
    peers = Peers()
    await peers.connect()
    try:
        stream = Vp8Stream()
        speak(peers, stream, 10)
        await asyncio.sleep(0.6)
        decoded_before = len(peers.frames)
        assert decoded_before >= 6
        ice = peers.video_sender.transport.transport._connection
        first = ice._nominated[1]
        ice._nominated[1] = CandidatePair(first.protocol, first.remote_candidate)  # renominated
        speak(peers, stream, 10, first=10)
        await asyncio.sleep(0.6)
        relayed = RelayedProtocol(ice)
        relayed.transport = first.protocol.transport
        relayed.local_candidate = first.protocol.local_candidate
        ice._nominated[1] = CandidatePair(relayed, first.remote_candidate)  # a relay
        speak(peers, stream, 10, first=20)
        await asyncio.sleep(0.8)
        assert peers.video.paced_off_loop and peers.audio.paced_off_loop  # never handed back
        video_pacer = peers.video._pacer
        assert video_pacer is not None and video_pacer.link.counters.ice_pairs_followed == 2
        assert peers.audio.counters.video_pacer_starts == 1
        assert len(peers.frames) - decoded_before >= 16  # frames 10-29, decoded on
        stats = await peers.receiver_pc.getStats()
        inbound = [s for s in stats.values() if s.type == "inbound-rtp" and s.kind == "video"]
        assert inbound and inbound[0].packetsLost == 0
        steps = np.diff([frame.pts for frame in peers.frames])
        assert steps.min() > 0 and np.median(steps) == FRAME_MS * VIDEO_CLOCK // 1000
    finally:
        await peers.close()


async def test_a_new_link_on_the_same_sender_keeps_the_srtp_rollover() -> None:
    """A reconnect gives a sender a new link. Past 65,536 packets the sequence numbers
    have rolled over, and the receiver counts that: a link that started an SRTP session
    of its own would count from 0 again, and none of its packets would decrypt."""
    peers = Peers()
    await peers.connect()
    try:
        sender = peers.video_sender
        sending = tx_policy(sender.transport)
        receiver = Session(Policy(key=bytes(sending.key), ssrc_type=Policy.SSRC_ANY_INBOUND,
                                  srtp_profile=sending.srtp_profile))
        first = RtpLink.attach(sender, peers.video_codec)
        assert first is not None
        payload = bytes([0x90, 0x80]) + bytes(30)
        for k in range(65_600):  # the receiver sees each: its rollover count follows
            datagram = first.build(payload, 3600 * k, VIDEO_CLOCK)
            receiver.unprotect(datagram.data)
        first.write(datagram)  # the sender's history: where the next link goes on
        first.close()
        second = RtpLink.attach(sender, peers.video_codec)
        assert second is not None
        for k in range(65_600, 65_610):
            decrypted = receiver.unprotect(second.build(payload, 3600 * k, VIDEO_CLOCK).data)
            assert decrypted.endswith(payload)
        second.close()
    finally:
        await peers.close()


async def test_without_a_link_aiortc_sends_the_frames() -> None:
    """No usable path (a TURN relay, no peer yet): the track is aiortc's as before."""
    audio = MediaClockAudioTrack(RATE)
    video = MediaClockVideoTrack(audio)
    video.link_factory = lambda: None
    stream = Vp8Stream()
    encoded = stream.encode(face_image(0), VideoRequest())
    video.add_image(face_image(0), encoded.data, encoded.keyframe)
    audio.add_audio_bytes(tone(FRAME_MS))
    await audio.recv()
    sent = await asyncio.wait_for(video.recv(), 1.0)
    assert not video.paced_off_loop and video.link_factory is None
    assert bytes(sent) == encoded.data


async def test_a_reconnect_ends_the_old_video_pacer() -> None:
    connection = SmallWebRTCConnection()
    transport = SmallWebRTCTransport(webrtc_connection=connection, params=TransportParams(
        audio_out_enabled=True, video_out_enabled=True))
    fitted = MediaClockOutput.install(transport.output())
    connection.replace_audio_track(RawAudioTrack(sample_rate=RATE))
    connection.replace_video_track(RawVideoTrack(64, 64))
    old = fitted.video
    assert old is not None and old.link_factory is not None
    assert old.link_factory() is None  # no peer connection: aiortc would send
    peers = Peers()  # a real link for the old track, on a peer pair of its own
    peers.video = old
    peers.audio = old.audio
    await peers.connect()
    try:
        pacer = old._pacer
        assert pacer is not None and pacer.is_alive()
        connection.replace_video_track(RawVideoTrack(64, 64))
        assert not pacer.is_alive()  # joined before the new track took over
        assert fitted.video is not old and fitted.video.link_factory is not None
    finally:
        await peers.close()
