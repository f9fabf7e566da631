"""What each WebRTC video codec costs to send the face (bench/webrtc/webrtc_codecs.py,
bench/webrtc/webrtc_kiosk.py): encode time, bitrate, and whether the encoder leaves the
interpreter lock to Python while it works."""

from __future__ import annotations

import fractions
import threading
import time
from typing import Any, Literal

import av
import numpy as np
from aiortc.codecs import h264, vpx
from tqdm import tqdm

from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.roundtrip import mixed_track
from benchkit.stats import pct

FPS = 25
SIZES: tuple[Literal[256, 512], ...] = (256, 512)
#: aiortc's encoders, each at the top of the bitrate range it lets a receiver ask for
CODECS: dict[str, tuple[Any, int]] = {"vp8": (vpx.Vp8Encoder, vpx.MAX_BITRATE), "h264": (h264.H264Encoder, h264.MAX_BITRATE)}
#: seconds of the pure-Python loop, alone and beside an encoding thread
GIL_PROBE_SECS = 4.0


def rendered_frames(size: Literal[256, 512], frames: int) -> list[np.ndarray]:
    """The face as a session draws it: RGB images of a moving, talking head."""
    renderer = PortraitRenderer(Portrait.default(size), size)
    renderer.wait_for_plate()
    track = mixed_track(renderer.reference, frames, seed=0, pose_deg=4.0)
    return [renderer.render(motion) for motion in tqdm(track, desc=f"render {size}px", leave=False)]


def video_frames(images: list[np.ndarray]) -> list[av.VideoFrame]:
    out = []
    for index, image in enumerate(images):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = index * 3600, fractions.Fraction(1, 90000)
        out.append(frame)
    return out


def encode_figures(codec: str, images: list[np.ndarray]) -> dict[str, Any]:
    """Encode every image once, as the RTP sender would (first one a keyframe)."""
    encoder_type, bitrate = CODECS[codec]
    encoder = encoder_type()
    encoder.target_bitrate = bitrate
    walls, cpus, sent = [], [], 0
    for index, frame in enumerate(video_frames(images)):
        wall, cpu = time.perf_counter(), time.process_time()
        payloads, _ = encoder.encode(frame, force_keyframe=index == 0)
        cpus.append((time.process_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
        if index >= FPS:  # past the first second: the rate control has settled
            sent += sum(len(p) for p in payloads)
    steady = max(1, len(images) - FPS)
    return {
        "encode_ms_p50": pct(walls[1:], 50), "encode_ms_p95": pct(walls[1:], 95),
        "cpu_ms_p50": pct(cpus[1:], 50),
        "kbit_s": round(sent * 8 * FPS / steady / 1000, 1),
        "target_kbit_s": bitrate // 1000,
        "gil_free": gil_free_fraction(encoder_type, images),
    }


def _python_loop(seconds: float) -> float:
    """Iterations a second of a loop that needs the interpreter lock throughout."""
    count, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        count += 1
    return count / seconds


def gil_free_fraction(encoder_type: Any, images: list[np.ndarray]) -> float:
    """The Python loop's speed beside a thread that encodes non-stop, over its speed
    alone: medians of alternating half-second probes, so both see the same machine."""
    frames = video_frames(images)
    encoding = threading.Event()
    stop = threading.Event()

    def encode_when_asked() -> None:
        encoder = encoder_type()
        index = 0
        while not stop.is_set():
            if not encoding.wait(0.05):
                continue
            frame = frames[index % len(frames)]
            frame.pts = index * 3600
            encoder.encode(frame)
            index += 1

    worker = threading.Thread(target=encode_when_asked, daemon=True)
    worker.start()
    alone, beside = [], []
    for _ in range(int(GIL_PROBE_SECS / 0.5)):
        encoding.clear()
        time.sleep(0.05)
        alone.append(_python_loop(0.5))
        encoding.set()
        time.sleep(0.05)
        beside.append(_python_loop(0.5))
    stop.set()
    encoding.set()
    worker.join()
    return round(float(np.median(beside) / np.median(alone)), 3)


def codec_table(frames: int = 150) -> dict[str, dict[str, dict[str, Any]]]:
    """{codec: {size: figures}} for every codec and size."""
    table: dict[str, dict[str, dict[str, Any]]] = {codec: {} for codec in CODECS}
    for size in SIZES:
        images = rendered_frames(size, frames)
        for codec in CODECS:
            table[codec][str(size)] = encode_figures(codec, images)
    return table
