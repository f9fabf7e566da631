"""Fake camera and microphone media for the browser tests: benchkit/browser_media.py,
shared with the benches."""

from __future__ import annotations

from benchkit.browser_media import (
    MAX_DISTINCT_SECONDS,
    MIC_TAIL_SECONDS,
    SPEECH_RATE,
    WebcamScene,
    mic_track,
    ping_pong,
    read_y4m,
    room_background,
    speak,
    webcam_clip,
    webcam_motion,
    write_fake_camera_y4m,
    write_fake_mic_wav,
    y4m_header,
)

__all__ = ["MAX_DISTINCT_SECONDS", "MIC_TAIL_SECONDS", "SPEECH_RATE", "WebcamScene", "mic_track", "ping_pong", "read_y4m", "room_background", "speak", "webcam_clip", "webcam_motion", "write_fake_camera_y4m", "write_fake_mic_wav", "y4m_header"]
