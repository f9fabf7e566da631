"""The media-clock WebRTC tracks (pipelines/wire/webrtc/tracks.py) and their fitting
into pipecat's SmallWebRTC output (pipelines/wire/webrtc/output.py).

The tracks are driven as aiortc's RTP sender drives them (`recv()` in a loop) on
real aiortc and PyAV objects; the fitting on a real pipecat pipeline with a real
`SmallWebRTCTransport`. What is checked is what a receiver depends on: the audio
in steady 20 ms packets on a contiguous sample clock, each image stamped with the
media time of its own audio, no image sent twice, speech never dropped.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from av import AudioFrame, CodecContext, Packet
from pipecat.frames.frames import OutputImageRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.transports.base_transport import TransportParams
from pipecat.transports.smallwebrtc.connection import SmallWebRTCConnection
from pipecat.transports.smallwebrtc.transport import (
    RawAudioTrack,
    RawVideoTrack,
    SmallWebRTCTransport,
)

from pipelines import AvatarForcingVideoService
from pipelines.wire.frames import MediaTimedImageFrame
from pipelines.wire.webrtc.output import MediaClockOutput, find_small_webrtc_output
from pipelines.wire.webrtc.tracks import MARK_WAIT_PACKETS, PACKET_SECS, MediaClockAudioTrack
from pipelines.wire.webrtc.video_track import VIDEO_CLOCK, MediaClockVideoTrack

RATE = 24_000  # pipecat's default output rate: the track encodes Opus itself
RAW_RATE = 44_100  # not an Opus input rate: raw frames for aiortc's encoder
TEN_MS = RATE // 100 * 2  # bytes of 10 ms of 16-bit mono


def tone(ms: int, value: int = 1000, rate: int = RATE) -> bytes:
    return np.full(rate * ms // 1000, value, np.int16).tobytes()


def image(value: int) -> np.ndarray:
    return np.full((16, 16, 3), value, np.uint8)


async def test_audio_goes_out_in_20_ms_packets_on_a_contiguous_clock() -> None:
    """At a rate libopus does not take (44.1 kHz), raw frames for aiortc to encode."""
    track = MediaClockAudioTrack(RAW_RATE)
    written = track.add_audio_bytes(tone(30, rate=RAW_RATE))
    frames = [await track.recv() for _ in range(3)]
    assert all(isinstance(f, AudioFrame) for f in frames)
    assert [f.samples for f in frames] == [882, 882, 882]
    assert [f.pts for f in frames] == [0, 882, 1764]
    assert written.done() and written.result() is True  # released once all of it went out
    pcm = [f.to_ndarray().reshape(-1) for f in frames]
    assert (pcm[0] == 1000).all() and (pcm[1][:441] == 1000).all() and (pcm[1][441:] == 0).all()
    assert (pcm[2] == 0).all()  # nothing queued: silence
    assert track.media_secs == pytest.approx(0.06)
    # paced at real time: three packets took about 40 ms after the first
    assert track.counters.audio_packets == 3


async def test_audio_refuses_a_length_that_is_not_whole_10_ms() -> None:
    track = MediaClockAudioTrack(RATE)
    with pytest.raises(ValueError, match="multiple of 10 ms"):
        track.add_audio_bytes(bytes(TEN_MS + 2))


async def test_an_image_is_stamped_with_the_media_time_of_the_audio_after_it() -> None:
    audio = MediaClockAudioTrack(RATE)
    video = MediaClockVideoTrack(audio)
    audio.add_audio_bytes(tone(40, 0))  # idle: 40 ms
    video.add_image(image(1))  # this image's audio is the next write
    audio.add_audio_bytes(tone(40))
    video.add_image(image(2))
    audio.add_audio_bytes(tone(40))
    for _ in range(6):
        await audio.recv()
    first, second = await video.recv(), await video.recv()
    assert first.pts == round(0.04 * VIDEO_CLOCK) and second.pts == round(0.08 * VIDEO_CLOCK)
    assert first.to_ndarray(format="rgb24")[0, 0, 0] == 1
    assert second.to_ndarray(format="rgb24")[0, 0, 0] == 2


async def test_an_image_waits_for_its_audio_when_the_audio_ran_dry() -> None:
    """Silence goes out first; the image is stamped when its own voice starts."""
    audio = MediaClockAudioTrack(RATE)
    video = MediaClockVideoTrack(audio)
    video.add_image(image(7))
    await audio.recv()  # 20 ms of silence: the image's audio has not come yet
    audio.add_audio_bytes(tone(40))
    await audio.recv()
    frame = await video.recv()
    assert frame.pts == round(PACKET_SECS * VIDEO_CLOCK)
    assert audio.counters.images_released_without_audio == 0


async def test_an_image_with_no_audio_behind_it_is_shown_anyway() -> None:
    audio = MediaClockAudioTrack(RATE)
    video = MediaClockVideoTrack(audio)
    video.add_image(image(3))
    for _ in range(MARK_WAIT_PACKETS + 1):
        await audio.recv()
    frame = await asyncio.wait_for(video.recv(), 1.0)
    assert frame.pts == round(MARK_WAIT_PACKETS * PACKET_SECS * VIDEO_CLOCK)
    assert audio.counters.images_released_without_audio == 1


async def test_late_silence_is_skipped_and_late_speech_is_sent() -> None:
    """A busy event loop: missed silence is not sent in a burst (the media time jumps
    to the wall clock), missed speech goes out at once, in order."""
    audio = MediaClockAudioTrack(RATE)
    await audio.recv()
    audio._origin = time.monotonic() - 0.5  # the loop stalled for half a second
    await audio.recv()
    assert audio.counters.silence_skipped_secs == pytest.approx(0.48, abs=0.03)
    assert audio.media_secs == pytest.approx(0.5, abs=0.03)
    audio._origin -= 0.5  # stalled again, with speech waiting
    audio.add_audio_bytes(tone(40))
    packet = await audio.recv()
    assert packet.pts == audio._sent - 480 and len(bytes(packet)) > 10  # the speech, not skipped
    assert audio.counters.late_packets == 1


async def test_a_redrawn_image_is_sent_once() -> None:
    audio = MediaClockAudioTrack(RATE)
    video = MediaClockVideoTrack(audio)
    frame = OutputImageRawFrame(image(5).tobytes(), (16, 16), "RGB")
    for _ in range(3):  # pipecat's non-live output redraws its current image
        video.add_video_frame(frame)
    audio.add_audio_bytes(tone(40))
    await audio.recv()
    assert audio.counters.images_in == 1 and audio.counters.images_repeated_dropped == 2


async def test_a_video_track_behind_its_audio_shows_the_newest_image() -> None:
    audio = MediaClockAudioTrack(RATE)
    video = MediaClockVideoTrack(audio)
    for value in range(6):
        video.add_image(image(value))
        audio.add_audio_bytes(tone(40))
    for _ in range(12):
        await audio.recv()
    sent = await video.recv()  # the first four are more than STALE_IMAGE_SECS old now
    assert sent.to_ndarray(format="rgb24")[0, 0, 0] == 3
    assert audio.counters.images_stale_dropped == 3


def test_a_service_before_a_small_webrtc_output_fits_it_with_media_clock_tracks() -> None:
    """What a pipecat developer writes, as in pipecat's own avatar examples: the
    service fits the transport's output while the pipeline is linked."""
    connection = SmallWebRTCConnection()
    transport = SmallWebRTCTransport(webrtc_connection=connection, params=TransportParams(
        audio_in_enabled=True, audio_out_enabled=True, video_out_enabled=True,
        video_out_is_live=True, video_out_width=512, video_out_height=512))
    service = AvatarForcingVideoService()
    Pipeline([transport.input(), service, transport.output()])
    assert find_small_webrtc_output(service) is transport.output()
    assert isinstance(service.media_clock, MediaClockOutput)
    assert MediaClockOutput.install(transport.output()) is service.media_clock  # idempotent

    # pipecat's client installs its own tracks when the peer connects: ours go in instead
    client = transport.output()._client
    client._audio_output_track = RawAudioTrack(sample_rate=RATE)
    connection.replace_audio_track(client._audio_output_track)
    client._video_output_track = RawVideoTrack(512, 512)
    connection.replace_video_track(client._video_output_track)
    assert isinstance(client._audio_output_track, MediaClockAudioTrack)
    assert client._audio_output_track.sample_rate == RATE
    assert isinstance(client._video_output_track, MediaClockVideoTrack)
    assert client._video_output_track.audio is client._audio_output_track


async def test_the_output_hands_media_timed_images_to_the_video_track() -> None:
    connection = SmallWebRTCConnection()
    transport = SmallWebRTCTransport(webrtc_connection=connection, params=TransportParams(
        audio_out_enabled=True, video_out_enabled=True))
    fitted = MediaClockOutput.install(transport.output())
    client = transport.output()._client
    client._audio_output_track = RawAudioTrack(sample_rate=RATE)
    connection.replace_audio_track(client._audio_output_track)
    client._video_output_track = RawVideoTrack(512, 512)
    connection.replace_video_track(client._video_output_track)
    await transport.output().write_transport_frame(
        MediaTimedImageFrame(rgb=image(9), frame_index=4))
    assert fitted.counters.images_in == 1
    assert fitted.stats()["webrtc_images_in"] == 1
    # the links' counters too, per kind (none made yet: no peer)
    assert fitted.stats()["webrtc_video_ice_pairs_followed"] == 0


async def test_images_the_face_encoded_go_out_as_vp8_packets_from_their_first_keyframe() -> None:
    """An image queued before the peer negotiated goes out raw (aiortc encodes it);
    from the face's first keyframe on, its own VP8 frames are only packetized."""
    from avatar.live.video_codec import VideoRequest, Vp8Stream

    audio = MediaClockAudioTrack(RATE)
    video = MediaClockVideoTrack(audio)
    stream = Vp8Stream()
    images = [np.full((64, 64, 3), 40 * i, np.uint8) for i in range(4)]
    video.add_image(images[0])  # planned before the peer connected: no VP8 frame
    audio.add_audio_bytes(tone(40))
    for image in images[1:]:
        encoded = stream.encode(image, VideoRequest())
        video.add_image(image, encoded.data, encoded.keyframe)
        audio.add_audio_bytes(tone(40))
    sent = []
    for _ in range(4):  # each image sent as its audio goes out, as the RTP senders run
        await audio.recv()
        await audio.recv()
        sent.append(await video.recv())
    assert not isinstance(sent[0], Packet)
    assert all(isinstance(item, Packet) for item in sent[1:])
    assert [item.pts for item in sent] == [round(k * 0.04 * VIDEO_CLOCK) for k in range(4)]
    assert audio.counters.images_preencoded == 3
    # a receiver's keyframe request reaches the face through the track
    video.request_keyframe()
    assert video.take_keyframe_request() and not video.take_keyframe_request()


async def test_the_voice_goes_out_as_opus_stamped_with_its_media_time() -> None:
    """At 24 kHz the track encodes Opus itself: one packet per 20 ms, stamped with the
    media time of its first sample, and a decoder hears the tone."""
    track = MediaClockAudioTrack(RATE)
    sine = 8000 * np.sin(2 * np.pi * 440 * np.arange(RATE // 5) / RATE)  # 200 ms, 440 Hz
    track.add_audio_bytes(sine.astype(np.int16).tobytes())
    packets = [await track.recv() for _ in range(10)]
    assert all(isinstance(p, Packet) for p in packets)
    assert [p.pts for p in packets] == [480 * i for i in range(10)]
    assert track.encoder_delay_secs == 0.0
    decoder = CodecContext.create("libopus", "r")
    heard = np.concatenate([frame.to_ndarray().reshape(-1) for p in packets
                            for frame in decoder.decode(p)])
    assert np.abs(heard[len(heard) // 2:]).max() > 4000  # the tone, past the codec's start


async def test_each_packet_holds_20_ms_at_a_rate_where_10_ms_is_not_whole_samples() -> None:
    """At 22,050 Hz (the bundled voice) pipecat writes 220-sample "10 ms" chunks and a
    packet is 441 samples: a packet takes part of a chunk, never a whole extra one
    (which sent 30 ms of speech in each 20 ms packet)."""
    track = MediaClockAudioTrack(22_050)
    pcm = np.arange(220 * 8, dtype=np.int16)
    written = track.add_audio_bytes(pcm.tobytes())
    frames = [await track.recv() for _ in range(5)]
    assert [f.samples for f in frames] == [441] * 5
    sent = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    assert (sent[:len(pcm)] == pcm).all() and (sent[len(pcm):] == 0).all()
    assert written.done() and written.result() is True
