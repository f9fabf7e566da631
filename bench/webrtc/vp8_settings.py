"""Figure: bench/results/vp8_settings.json and .png: what the face's VP8 settings cost
and give, each against the shipped ones, in one run.

The images are the renderer's own (the bundled portrait, a talking-and-reacting
motion track, 512 px), encoded as the face's worker encodes them over WebRTC
(`avatar/live/video_codec.py`: libvpx, realtime, CBR at aiortc's top bitrate) with one
libvpx option changed per variant: the temporal denoiser on (aiortc's
`noise-sensitivity=4`, what the face used before) and faster `cpu-used` speeds. The
variants are interleaved round by round, so a busy machine slows them all alike.

Per variant: encode CPU ms an image (median after the first 10, colour conversion
included), kbit/s at 25 images a second, and PSNR of the decoded image against the
rendered one (every 10th image, dB; higher is closer).

    .venv/bin/python bench/webrtc/vp8_settings.py [--frames 150] [--rounds 2]
"""

from __future__ import annotations

import argparse
import fractions
import json
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

from avatar.live.video_codec import FPS, MAX_BITRATE, realtime_vp8
from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT
from benchkit.webrtc_codecs import rendered_frames

#: libvpx options changed from the shipped settings, per variant
VARIANTS: dict[str, dict[str, str]] = {
    "shipped (no denoiser)": {},
    "denoiser on (aiortc's, before)": {"noise-sensitivity": "4"},
    "cpu-used -12": {"cpu-used": "-12"},
    "cpu-used -16": {"cpu-used": "-16"},
}


def psnr(decoded: np.ndarray, source: np.ndarray) -> float:
    """Peak signal-to-noise ratio of `decoded` against `source` (uint8 RGB), dB."""
    mse = float(np.mean((decoded.astype(np.float64) - source.astype(np.float64)) ** 2))
    return 10.0 * float(np.log10(255.0**2 / max(mse, 1e-9)))


def encode_run(images: list[np.ndarray], options: dict[str, str]) -> dict[str, float]:
    """Encode `images` once with the shipped settings plus `options`; decode to compare."""
    height, width = images[0].shape[:2]
    codec = realtime_vp8(width, height, MAX_BITRATE)
    codec.options = {**codec.options, **options}
    decoder = av.CodecContext.create("vp8", "r")
    cpu_ms, quality, total_bytes = [], [], 0
    for index, image in enumerate(images):
        started = time.process_time()
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index, fractions.Fraction(1, FPS)
        packets = codec.encode(frame)
        cpu_ms.append((time.process_time() - started) * 1000.0)
        data = b"".join(bytes(packet) for packet in packets)
        total_bytes += len(data)
        for decoded in decoder.decode(av.Packet(data)):
            if index % 10 == 5:
                quality.append(psnr(decoded.to_ndarray(format="rgb24"), image))
    return {"encode_cpu_ms_p50": float(np.median(cpu_ms[10:])),
            "kbit_s": total_bytes * 8 / len(images) * FPS / 1000.0,
            "psnr_db": float(np.mean(quality))}


def plot(result: dict[str, Any], out: Path) -> None:
    """CPU an image against PSNR, one point per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, figures in result["variants"].items():
        ax.scatter(figures["encode_cpu_ms_p50"], figures["psnr_db"], s=40)
        ax.annotate(name, (figures["encode_cpu_ms_p50"], figures["psnr_db"]),
                    textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("encode CPU per 512 px image (ms, median)")
    ax.set_ylabel("PSNR of the decoded image (dB)")
    ax.set_title("The face's VP8 settings (libvpx realtime, CBR)")
    ax.margins(x=0.35, y=0.15)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def main(args: argparse.Namespace) -> dict[str, Any]:
    load_start = load_average()
    images = rendered_frames(512, args.frames)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, options in VARIANTS.items():
            runs[name].append(encode_run(images, options))
    variants = {name: {key: round(float(np.median([r[key] for r in results])), 2)
                       for key in results[0]} for name, results in runs.items()}
    result = {"bench": "vp8_settings", "size": 512, "frames": args.frames,
              "rounds": args.rounds, "bitrate": MAX_BITRATE, "variants": variants,
              "load_average_start": load_start, "load_average_end": load_average(),
              "plot": shown(args.out.with_suffix(".png"))}
    plot(result, args.out.with_suffix(".png"))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "vp8_settings.json")
    arguments = parser.parse_args()
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    output = main(arguments)
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output))
