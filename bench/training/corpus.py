"""Figure: the data side's speed (JSON on stdout): audio features, corpus rendering, the baseline.

Benchmark the data side: audio features, corpus rendering, the rule baseline.

Prints one JSON object (last stdout line). Medians over repeats; the machine is
shared, so compare numbers from the same run only.

Runs: ~2 min on its defaults (estimated for the 2-core host).
Quoted: docs/CORPUS.md, "Causal audio features (`avatar/audio_features.py`)": ~0.15 ms a frame offline, ~0.2 ms a streamed frame
"""

from __future__ import annotations

import json
import os
import statistics
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _median_ms(fn, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> None:
    import torch

    torch.set_num_threads(1)
    from avatar.audio_features import CausalAudioFeaturizer, compute_features
    from avatar.baseline import RuleBaseline
    from avatar.corpus.dialogue import render_dialogue
    from avatar.corpus.speech import SpeechSynth, Voice

    rng = np.random.default_rng(0)
    pcm = (rng.normal(0, 0.1, 16000 * 60)).astype(np.float32)  # 60 s, 1500 frames
    offline_p50, offline_p95 = _median_ms(lambda: compute_features(pcm), 5)
    streamer = CausalAudioFeaturizer()
    chunk = pcm[:640]
    stream_p50, stream_p95 = _median_ms(lambda: streamer.push(chunk), 300)

    synth = SpeechSynth()
    voices = {"a": Voice("piper:joe", "piper"),
              "b": Voice("espeak:en-gb+f3", "espeak", "en-gb+f3", pitch=60, f0_hz=210)}
    render_dialogue("warm", 0, voices, 5.0, synth)  # load piper
    rtfs = []
    for seed in range(3):
        t0 = time.perf_counter()
        d = render_dialogue("bench", seed, voices, 30.0, synth)
        rtfs.append(float(d.meta["duration_s"]) / (time.perf_counter() - t0))  # type: ignore[arg-type]

    baseline = RuleBaseline()
    frame = pcm[:640]
    motion = np.zeros(58, np.float32)
    base_p50, base_p95 = _median_ms(lambda: baseline.step(frame, frame, motion), 500)
    print(json.dumps({
        "features_offline_ms_per_frame_p50": round(offline_p50 / 1500, 4),
        "features_offline_ms_per_frame_p95": round(offline_p95 / 1500, 4),
        "features_stream_ms_per_frame_p50": round(stream_p50, 4),
        "features_stream_ms_per_frame_p95": round(stream_p95, 4),
        "corpus_render_x_realtime_median": round(statistics.median(rtfs), 2),
        "baseline_step_ms_p50": round(base_p50, 4),
        "baseline_step_ms_p95": round(base_p95, 4),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
