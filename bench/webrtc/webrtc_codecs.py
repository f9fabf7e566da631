"""Figure: bench/results/webrtc_codecs.json and webrtc_codecs.png: what each WebRTC
video codec costs to send the face, and whether its encoder runs beside Python.

The images are the renderer's own (the bundled portrait, a talking-and-reacting
motion track: `mixed_track`, at 256 and 512 px). Each is encoded by aiortc's own
encoders, the ones `RTCRtpSender` runs, with their real-time settings: VP8 through
libvpx (`deadline=realtime`, `cpu-used=-6`, CBR, no lag) and H.264 through PyAV's
libx264 (`tune=zerolatency`, baseline), each at the bitrate a loopback peer lets it
reach (`MAX_BITRATE`: aiortc raises its target to that on a receiver's REMB).

Per codec and size:
- encode_ms_p50 / p95: wall time of one `encode()` (colour conversion included);
- cpu_ms_p50: the process's CPU time for it, all threads (libx264 slices a frame
  over threads of its own);
- kbit_s: the bitrate at 25 images a second;
- gil_free: how much of a pure-Python loop's speed survives while a second thread
  encodes non-stop (1.0: the encoder leaves the interpreter lock alone, so an
  encoding thread really runs in parallel with the pipeline; 0.5: it holds the
  lock as long as Python would). Measured on the idle cores of this machine.

Prints one JSON object (last line) with the load average.

    .venv/bin/python bench/webrtc/webrtc_codecs.py [--frames 150]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import av

from benchkit.paths import RESULTS
from benchkit.webrtc_codecs import CODECS, FPS, SIZES, codec_table


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    labels = [f"{codec}\n{size}px" for size in SIZES for codec in CODECS]
    cells = [result[codec][str(size)] for size in SIZES for codec in CODECS]
    left.bar(labels, [c["encode_ms_p50"] for c in cells], color="tab:blue")
    left.set_ylabel("encode ms / image (p50)")
    right.bar(labels, [c["kbit_s"] for c in cells], color="tab:orange")
    right.set_ylabel("kbit/s at 25 images/s")
    figure.suptitle("aiortc's real-time encoders on the face's images")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    result: dict[str, Any] = dict(codec_table(args.frames))
    result.update({
        "frames": args.frames, "fps": FPS, "threads_vp8": "aiortc's choice (1 below 640x480)",
        "av_version": av.__version__,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    })
    plot(result, args.out.with_suffix(".png"))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--out", type=Path, default=RESULTS / "webrtc_codecs.json")
    arguments = parser.parse_args()
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    output = main(arguments)
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output))
