"""A face session's pacing and analysis choices (`FacePacing`), the fields of
the `[avatar]` settings section that say how each session keeps time."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.settings import AvatarSettings, section_params


@dataclass(frozen=True)
class FacePacing:
    """Pacing and analysis choices (defaults measured on a 2-core CPU)."""

    #: frames are pushed this long before their time: covers one render and a
    #: camera analysis queued in the same worker (~20 ms) plus scheduling jitter
    lead_secs: float = 0.06
    #: later than this, the clock is rebased (frames keep their spacing from now)
    rebase_secs: float = 0.25
    #: camera frames analysed per second (0: camera ignored)
    camera_fps: float = 10.0
    #: at most this many of them while the avatar speaks (its reply's audio plays): the
    #: visitor mostly listens, so half the landmarker runs, and the full rate from the
    #: reply's end; never below ~4 (a measurement stands for the face 0.3 s)
    camera_fps_while_speaking: float = 5.0
    #: torch threads in this session's worker thread (OpenMP: per thread)
    threads: int = 1
    #: from the user's pause (VAD stop) or turn end, camera analysis pauses until the
    #: reply starts (at most this long): the face changes little then, and ASR, LLM
    #: and TTS need the CPU
    thinking_camera_pause_secs: float = 3.0
    #: in the same window the face only idles: draw one frame in this many and repeat
    #: the last image in between (the renderer and JPEG take ~30 % of a core at 25 fps,
    #: beside the one LLM thread writing the reply's first phrase); 1: draw every frame
    thinking_frame_stride: int = 2
    #: and before that, from the window's start, nothing is drawn for this long: every
    #: idle frame repeats the last image while the generator steps on (~4 % of a core
    #: against ~30 % drawing), so whisper and piper are not slowed by the face; a
    #: slower reply then gets the stride above, so the face is never frozen long.
    #: The reply's first frame is drawn as ever; 0: the stride from the start
    thinking_hold_secs: float = 2.0
    #: while the reply is thought up (the window above) the session's jobs run on a
    #: second worker thread whose nice value is raised by this (Linux: per thread):
    #: there the renders yield the CPU to whisper, the LLM server and piper, which
    #: decide when the reply is heard. Outside that window they run at the default
    #: priority: a worker niced all the time got a tenth of a core beside two busy
    #: neighbours and fell to a few images a second (docs/LIVE_AVATAR.md). Only one job
    #: runs at a time either way; 0: one thread, never niced
    worker_nice: int = 10
    stats_interval_secs: float = 2.0
    #: each image is pushed this many frames (40 ms) ahead of its own audio. pipecat's
    #: output transports with `video_out_is_live` draw an image one frame after it
    #: arrives (their video clock) and start its audio as soon as it arrives, so 1
    #: puts the two together (measured: image 43 ms behind its audio with 0, within
    #: 10 ms with 1; docs/PIPECAT.md). Our websocket stamps an image with the
    #: audio clock where it is queued: 0 there (the server sets it).
    image_lead_frames: int = 1
    #: release each image only once the transport has written the audio queued before
    #: it (pipecat's `OutputImageRawFrame.sync_with_audio`; pair it with
    #: `video_out_is_live=False` and `image_lead_frames=0`). For a transport whose
    #: audio path buffers more than its video path, where a live image would go out
    #: ahead of its own audio: pipecat's SmallWebRTC (docs/PIPECAT.md)
    images_sync_with_audio: bool = False

    @classmethod
    def from_section(cls, avatar: AvatarSettings) -> FacePacing:
        """From the settings' `[avatar]` section (its pacing fields are these)."""
        return section_params(cls, avatar)



__all__ = ["FacePacing"]
