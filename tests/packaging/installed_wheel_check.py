"""Run by test_wheel.py inside a clean venv holding only the built wheel and
`pipecat-ai[webrtc]`: what a pipecat developer's app sees.

    python installed_wheel_check.py OUT_DIR [--no-webrtc]

With `--no-webrtc` (a venv with the wheel and `pipecat-ai[daily]`, as an app on
Daily, LiveKit or a websocket transport has it): aiortc must not be installed,
the service must import and run without it, and nothing may have imported aiortc
or pipecat's SmallWebRTC module on the way; the OpenCV and YUV checks (a WebRTC
transport's) are left out.

Checks, in order, and prints one JSON object (last line of stdout):
- the wheel added `avatar_forcing` and none of the bare names other
  distributions own (`agent`, `avatar`, `pipelines`, `sdk`, `fleet`);
- `cv2` does what pipecat's SmallWebRTC transport asks of it (a YUV camera
  frame to RGB) and says which OpenCV distribution's native module won the
  shared `cv2/` folder;
- `from avatar_forcing import AvatarForcingVideoService` runs for real inside
  a pipecat Pipeline in front of pipecat's own output path (benchkit's memory
  transport, copied beside this script): StartFrame, a second and a half of
  voiced audio as TTSAudioRawFrames at 24 kHz, EndFrame. RGB images and the
  audio come out; a frame is written to OUT_DIR/frame.png;
- no module under the bare names was imported on the way (an import the
  rewrite missed), and importing and running the service left the process's
  allocator setting alone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np

BARE = ("agent", "avatar", "pipelines", "sdk", "fleet", "benchkit_product")
SHIPPED = ("agent", "avatar", "pipelines", "sdk", "fleet")
OPENCV = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
          "opencv-contrib-python-headless")
RATE = 24000
SIZE = 256


def installed_top_names() -> list[str]:
    """The bare package names importable here (must be none of ours)."""
    return [name for name in SHIPPED if importlib.util.find_spec(name) is not None]


def cv2_owner() -> str:
    """The distribution whose native cv2 module is the one on disk (the last installed)."""
    for dist in OPENCV:
        try:
            files = importlib.metadata.files(dist) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for file in files:
            if file.name.startswith("cv2") and file.name.endswith(".so") and file.hash:
                digest = hashlib.sha256(Path(str(file.locate())).read_bytes()).digest()
                if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == file.hash.value:
                    return dist
    return "unknown"


def pipecat_camera_conversion_error() -> float:
    """Mean error (grey levels) of pipecat's SmallWebRTC YUV -> RGB conversion (cv2)
    on a real photo sent through PyAV as a browser's camera frame would be."""
    import av
    import cv2
    import matplotlib.cbook
    from pipecat.transports.smallwebrtc.transport import SmallWebRTCClient

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        data = np.frombuffer(file.read(), np.uint8)
    rgb = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    rgb = np.ascontiguousarray(rgb[:512, :512])
    yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    back = SmallWebRTCClient._convert_frame(None, yuv.to_ndarray(), "yuv420p")  # type: ignore[arg-type]
    return float(np.abs(back.astype(np.float64) - rgb).mean())


def voiced_audio(secs: float) -> np.ndarray:
    """int16 speech-like sound at RATE: a 140 Hz buzz with harmonics, in syllables."""
    t = np.arange(int(secs * RATE)) / RATE
    buzz = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6))
    syllables = np.clip(np.sin(2 * np.pi * 4 * t), 0.0, None)
    return (6000 * buzz * syllables).astype(np.int16)


async def run_service(out_dir: Path) -> dict[str, object]:
    """The service in a pipeline, as the repository's own test drives it."""
    import cv2

    from avatar_forcing import AvatarForcingVideoService
    from benchkit.pipecat_sink import loud, start_face_run

    settings = AvatarForcingVideoService.Settings(size=SIZE, adapt_video=False, camera_fps=0.0)
    run = await start_face_run(AvatarForcingVideoService(settings=settings),
                               out_rate=RATE, size=SIZE)
    pcm = voiced_audio(1.5)
    await run.speak(pcm, RATE)
    await asyncio.sleep(len(pcm) / RATE + 1.0)
    await run.end()
    images = [frame for _, frame in run.played.images]
    assert len(images) >= 40, f"only {len(images)} images in {len(pcm) / RATE + 1:.1f} s"
    assert all(f.format == "RGB" and f.size == (SIZE, SIZE) for f in images)
    voiced = sum(len(a) // 2 for _, a in run.played.audio if loud(a)) / RATE
    assert voiced >= 0.5 * len(pcm) / RATE, f"{voiced:.2f} s of the 1.5 s reply came out"
    pixels = np.stack([np.frombuffer(f.image, np.uint8).reshape(SIZE, SIZE, 3) for f in images])
    moved = float(pixels.astype(np.float32).std(axis=0).mean())
    assert moved > 0.1, "the face never moved"
    middle = pixels[len(pixels) // 2]
    cv2.imwrite(str(out_dir / "frame.png"), cv2.cvtColor(middle, cv2.COLOR_RGB2BGR))
    return {"images": len(images), "voiced_secs": round(voiced, 2),
            "pixel_std": round(moved, 2), "frame_mean": round(float(middle.mean()), 1)}


def main() -> int:
    """Run every check; the JSON line says what was seen."""
    out_dir = Path(sys.argv[1])
    report: dict[str, object] = {"bare_names": installed_top_names()}
    assert not report["bare_names"], f"the wheel installed bare packages: {report['bare_names']}"
    if "--no-webrtc" in sys.argv[2:]:
        return no_webrtc(out_dir, report)
    import cv2

    report["cv2"] = {"version": cv2.__version__, "owner": cv2_owner(),
                     "contrib": hasattr(getattr(cv2, "ximgproc", None), "guidedFilter"),
                     "installed": {d: importlib.metadata.version(d) for d in OPENCV
                                   if importlib.util.find_spec("cv2") and _installed(d)}}
    report["pipecat_yuv_error"] = round(pipecat_camera_conversion_error(), 2)
    assert report["pipecat_yuv_error"] < 3.0, report  # type: ignore[operator]
    report["service"] = asyncio.run(run_service(out_dir))
    leaked = sorted({m.partition(".")[0] for m in sys.modules} & set(SHIPPED))
    assert not leaked, f"bare modules imported: {leaked}"
    from avatar_forcing.avatar import memory

    assert not memory._limited, "importing or running the service capped malloc arenas"
    print(json.dumps(report))
    return 0


WEBRTC_MODULES = ("aiortc", "pipecat.transports.smallwebrtc")


def no_webrtc(out_dir: Path, report: dict[str, object]) -> int:
    """The service imports and runs where pipecat's WebRTC extra is not installed."""
    assert importlib.util.find_spec("aiortc") is None, "aiortc is installed here"
    report["service"] = asyncio.run(run_service(out_dir))
    imported = sorted(m for m in sys.modules if m.startswith(WEBRTC_MODULES))
    assert not imported, f"WebRTC modules imported without a WebRTC transport: {imported}"
    report["webrtc_modules_imported"] = imported
    report["daily_output"] = daily_output()
    print(json.dumps(report), flush=True)
    # daily-python's native client aborts in its own teardown at interpreter exit
    # when no call was ever joined; everything this check asks is printed above
    os._exit(0)


def daily_output() -> str | None:
    """With `pipecat-ai[daily]` installed, the service composes in front of Daily's output
    transport (no call is joined: this machine has no network); None without Daily."""
    if importlib.util.find_spec("daily") is None:
        return None
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.transports.daily.transport import DailyParams, DailyTransport

    from avatar_forcing import AvatarForcingVideoService

    transport = DailyTransport(
        "https://example.daily.co/kiosk", None, "face",
        params=DailyParams(audio_out_enabled=True, video_out_enabled=True,
                           video_out_is_live=True, video_out_width=512, video_out_height=512))
    output = transport.output()
    Pipeline([AvatarForcingVideoService(), output])
    imported = sorted(m for m in sys.modules if m.startswith(WEBRTC_MODULES))
    assert not imported, f"WebRTC modules imported beside Daily: {imported}"
    return type(output).__name__


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
