"""Our media-clock tracks (wire/webrtc/tracks.py) inside pipecat's SmallWebRTC output.

A pipecat developer writes `SmallWebRTCTransport(...)` and puts
`AvatarForcingVideoService()` before `transport.output()`; nothing else. The
service finds that output downstream (`find_small_webrtc_output`) and calls
`MediaClockOutput.install` on it, while the pipeline is being linked or set up,
before any peer connects. From then on:

- whenever pipecat's client installs its `RawAudioTrack` / `RawVideoTrack` on the
  peer connection (on connect, and again on a reconnect), ours are installed in
  their place (`replace_audio_track` / `replace_video_track` of that one
  connection are wrapped); the client writes to them as it wrote to its own;
- the audio and video tracks are each sent by a pacer thread of their own
  (wire/webrtc/audio_pacer.py, video_pacer.py) once aiortc's sender first
  asks them for a packet, when the peer's path allows;
  an interruption reaching the output drops the audio queued in the track;
- the audio receivers hand the visitor's voice on without aiortc's prefetch
  (wire/webrtc/audio_in.py);
- the output's `write_transport_frame` hook, which pipecat calls for custom frames
  that travel in its audio queue behind the audio before them, hands each
  `MediaTimedImageFrame` to the video track, which shows it when the audio after
  it plays, stamped on the audio's clock.

Only this one transport is touched (no class or module of pipecat is patched).
The same change as an upstream patch for pipecat's own tracks:
docs/webrtc_media_clock.md.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from loguru import logger
from pipecat.frames.frames import Frame, InterruptionFrame, OutputImageRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.transports.smallwebrtc.transport import (
    RawAudioTrack,
    RawVideoTrack,
    SmallWebRTCOutputTransport,
)

from avatar.live.video_codec import VideoRequest
from pipelines.wire.frames import MediaTimedImageFrame
from pipelines.wire.webrtc.audio_in import trim_audio_prefetch
from pipelines.wire.webrtc.rtp_link import LinkCounters, RtpLink
from pipelines.wire.webrtc.tracks import MediaClockAudioTrack, TrackCounters
from pipelines.wire.webrtc.video_track import MediaClockVideoTrack

#: how far downstream of the service its output transport is looked for
SEARCH_DEPTH = 16
#: the VP8 bitrate before the receiver's first estimate (aiortc's own default is 500 kbps)
DEFAULT_BITRATE = 1_000_000


def find_small_webrtc_output(processor: FrameProcessor) -> SmallWebRTCOutputTransport | None:
    """The SmallWebRTC output transport downstream of `processor`, if any (the first
    within SEARCH_DEPTH links: usually the very next processor)."""
    current = processor.next
    for _ in range(SEARCH_DEPTH):
        if current is None:
            return None
        if isinstance(current, SmallWebRTCOutputTransport):
            return current
        current = current.next
    return None


class MediaClockOutput:
    """Our tracks in one SmallWebRTC output transport (see the module docstring)."""

    #: the attribute that marks an output transport as already fitted
    MARK = "_avatar_forcing_media_clock"

    def __init__(self, output: SmallWebRTCOutputTransport) -> None:
        self.output = output
        self.counters = TrackCounters()
        #: what each kind's links did (a reconnect's new link goes on counting)
        self.link_counters = {"audio": LinkCounters(), "video": LinkCounters()}
        self.audio: MediaClockAudioTrack | None = None
        self.video: MediaClockVideoTrack | None = None

    @classmethod
    def install(cls, output: SmallWebRTCOutputTransport) -> MediaClockOutput:
        """Fit `output` with our tracks (idempotent: the fitting already there is
        returned)."""
        existing = getattr(output, cls.MARK, None)
        if isinstance(existing, cls):
            return existing
        fitted = cls(output)
        fitted._wrap_connection()
        fitted._wrap_write_transport_frame()
        fitted._wrap_interruptions()
        setattr(output, cls.MARK, fitted)
        fitted._replace_tracks_already_there()
        return fitted

    # ---------------------------------------------------------------- tracks
    def _wrap_connection(self) -> None:
        client = self.output._client
        connection = client._webrtc_connection
        replace_audio, replace_video = connection.replace_audio_track, connection.replace_video_track

        def audio_track(track: Any) -> None:
            if isinstance(track, RawAudioTrack):
                track = self._new_audio(track._sample_rate, track._auto_silence)
                client._audio_output_track = track
            replace_audio(track)
            trim_audio_prefetch(getattr(connection, "pc", None))

        def video_track(track: Any) -> None:
            if isinstance(track, RawVideoTrack):
                track = self._new_video()
                client._video_output_track = track
            replace_video(track)
            if isinstance(track, MediaClockVideoTrack):
                self._follow_keyframe_requests(track)

        connection.replace_audio_track = audio_track  # type: ignore[method-assign]
        connection.replace_video_track = video_track  # type: ignore[method-assign]

    def _new_audio(self, sample_rate: int, auto_silence: bool) -> MediaClockAudioTrack:
        if self.audio is not None:  # replaced on its sender: one pacer per SSRC
            self.audio.hand_over()
        audio = MediaClockAudioTrack(sample_rate, auto_silence, counters=self.counters)
        audio.link_factory = lambda: self._link_for(audio)
        self.audio = audio
        if self.video is not None:  # a reconnect: the video follows the new clock
            self.video.audio = self.audio
        return self.audio

    def _new_video(self) -> MediaClockVideoTrack:
        if self.audio is None:  # pipecat installs audio first; video-only outputs too
            self.audio = MediaClockAudioTrack(48_000, counters=self.counters)
        if self.video is not None:  # replaced on its sender: one pacer per SSRC
            self.video.hand_over()
        video = MediaClockVideoTrack(self.audio, counters=self.counters)
        video.link_factory = lambda: self._link_for(video)
        self.video = video
        return video

    def _link_for(self, track: MediaClockAudioTrack | MediaClockVideoTrack) -> RtpLink | None:
        """A link to send `track` on from its pacer (None: aiortc sends it)."""
        connection = self.output._client._webrtc_connection
        try:
            transceivers = connection.pc.getTransceivers()
        except Exception:  # no peer connection
            return None
        for transceiver in transceivers:
            sender = transceiver.sender
            if sender is not None and sender.track is track:
                codecs = getattr(transceiver, "_codecs", None) or [None]
                return RtpLink.attach(sender, codecs[0], self.link_counters[track.kind])
        return None

    def _video_transceiver(self) -> Any:
        """The transceiver pipecat sends the video on (its second), or None."""
        connection = self.output._client._webrtc_connection
        try:
            transceivers = connection.pc.getTransceivers()
        except Exception:  # no peer connection yet
            return None
        return transceivers[1] if len(transceivers) > 1 else None

    def _follow_keyframe_requests(self, track: MediaClockVideoTrack) -> None:
        """A receiver's PLI/FIR reaches aiortc's sender, which asks only its own
        encoder: pass it on to the track, whose frames may come encoded already."""
        transceiver = self._video_transceiver()
        if transceiver is None or transceiver.sender is None:
            return
        sender = transceiver.sender
        if getattr(sender, "_avatar_forcing_keyframes", False):
            return
        original = sender._send_keyframe

        def send_keyframe() -> None:
            original()
            if self.video is not None:
                self.video.request_keyframe()

        sender._send_keyframe = send_keyframe
        sender._avatar_forcing_keyframes = True

    def video_request(self) -> VideoRequest | None:
        """What the face should encode the next image as: VP8 at the bitrate the
        receiver allows, when the peer negotiated VP8 and the track sends; None: send
        RGB (another codec, or no peer yet)."""
        video = self.video
        if video is None or self.output._client._video_output_track is not video:
            return None
        transceiver = self._video_transceiver()
        codecs = getattr(transceiver, "_codecs", None) or []
        if not codecs or codecs[0].mimeType.lower() != "video/vp8":
            return None
        # aiortc's sender keeps the receiver's estimate (REMB) on its own encoder
        encoder = getattr(transceiver.sender, "_RTCRtpSender__encoder", None)
        bitrate = getattr(encoder, "target_bitrate", DEFAULT_BITRATE)
        return VideoRequest(bitrate=int(bitrate), keyframe=video.take_keyframe_request())

    def _replace_tracks_already_there(self) -> None:
        """A peer that connected before the fitting has pipecat's tracks: replace them
        (the video sender may wait inside the old track for an image: give it one)."""
        client = self.output._client
        old_audio, old_video = client._audio_output_track, client._video_output_track
        if isinstance(old_audio, RawAudioTrack):
            client._webrtc_connection.replace_audio_track(old_audio)
        if isinstance(old_video, RawVideoTrack):
            client._webrtc_connection.replace_video_track(old_video)
            width, height = old_video._width, old_video._height
            old_video.add_video_frame(OutputImageRawFrame(bytes(width * height * 3),
                                                          (width, height), "RGB"))
            logger.info("avatar: a WebRTC peer connected before the face: its tracks "
                        "were replaced by the media-clock tracks")

    # ---------------------------------------------------------------- images
    def _wrap_write_transport_frame(self) -> None:
        original: Callable[[Frame], Coroutine[Any, Any, None]] = self.output.write_transport_frame

        async def write_transport_frame(frame: Frame) -> None:
            if isinstance(frame, MediaTimedImageFrame):
                # only to a track the client still writes to (it drops its tracks when
                # the peer goes: images must not pile up in a dead one)
                if self.video is not None and self.output._client._video_output_track is self.video:
                    self.video.add_image(frame.rgb, frame.vp8, frame.vp8_keyframe)
                return
            await original(frame)

        self.output.write_transport_frame = write_transport_frame  # type: ignore[method-assign]

    def _wrap_interruptions(self) -> None:
        """pipecat drops the audio in its own queues on an interruption; the audio a
        paced track holds ahead of its send is dropped too."""
        original = self.output.process_frame

        async def process_frame(frame: Frame, direction: FrameDirection) -> None:
            if isinstance(frame, InterruptionFrame) and self.audio is not None \
                    and self.audio.paced_off_loop:
                self.audio.clear()
            await original(frame, direction)

        self.output.process_frame = process_frame  # type: ignore[method-assign]

    def stats(self) -> dict[str, int | float]:
        """The tracks' counters (merged into the service's `stats()`)."""
        tracks = {f"webrtc_{name}": round(value, 3) if isinstance(value, float) else value
                  for name, value in vars(self.counters).items()}
        links = {f"webrtc_{kind}_{name}": value for kind, counters in self.link_counters.items()
                 for name, value in vars(counters).items()}
        return {**tracks, **links}
