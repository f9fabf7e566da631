"""Figure: bench/results/datagram_writer.json and .png, how late the voice's packets
leave while something holds the server's interpreter lock, written by the link's
writer process (pipelines/wire/webrtc/datagram_writer.py) against written by the pacer
thread itself, in one run.

A real aiortc sender and receiver on loopback; the sender's voice is our
MediaClockAudioTrack, paced off the event loop by its AudioPacer on an RtpLink, and
speaks without a pause (a tone, queued as pipecat queues it). Beside it a thread
holds the interpreter lock in one C call (a sort) of about `--hold-ms` every
`--hold-every` seconds, as the holds the server showed at a session's start and a
reply's first tokens (70-140 ms, docs/PIPECAT.md). The two ways alternate, `--rounds`
times `--secs` seconds each. `written_late_10ms` counts the packets written more
than 10 ms after their time (Chromium's jitter buffer grows on them), and
`written_late_ms_max` the worst: by the writer process's own clock where it writes,
by the pacer thread's where it writes.

    .venv/bin/python bench/webrtc/datagram_writer.py [--rounds 3] [--secs 10] [--hold-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import RTCPeerConnection
from tqdm import tqdm

from benchkit.bench_args import run_async_figure, save_plot
from benchkit.loopback_peers import drain_tracks, offer_and_answer
from benchkit.paths import RESULTS
from pipelines.server.interpreter_timing import SWITCH_INTERVAL_SECS
from pipelines.wire.webrtc.datagram_writer import WRITER_ENV
from pipelines.wire.webrtc.rtp_link import RtpLink
from pipelines.wire.webrtc.tracks import MediaClockAudioTrack

RATE = 24_000
WAYS = {"writer_process": "1", "pacer_thread": "0"}


class LockHolder:
    """A thread that holds the interpreter lock in one sort of about `hold_ms`, every
    `every` seconds."""

    def __init__(self, hold_ms: float, every: float) -> None:
        self.numbers = self._calibrated(hold_ms)
        self.every = every
        self.holds_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lock-holder", daemon=True)

    @staticmethod
    def _calibrated(hold_ms: float) -> list[float]:
        probe = [random.random() for _ in range(200_000)]
        started = time.perf_counter()
        sorted(probe)
        per_item = (time.perf_counter() - started) / len(probe)
        return [random.random() for _ in range(int(hold_ms / 1000 / per_item))]

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            started = time.perf_counter()
            sorted(self.numbers)
            self.holds_ms.append((time.perf_counter() - started) * 1000)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def connected(track: MediaClockAudioTrack) -> tuple[RTCPeerConnection, RTCPeerConnection]:
    """A sender with `track` (sent by its pacer on an RtpLink) and a receiver that
    decodes what comes, connected on loopback."""
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    transceiver = sender.addTransceiver(track, direction="sendonly")
    track.link_factory = lambda: RtpLink.attach(transceiver.sender, transceiver._codecs[0])

    drain_tracks(receiver)
    await offer_and_answer(sender, receiver)
    return sender, receiver


async def one_round(way: str, secs: float, holder: LockHolder) -> dict[str, Any]:
    """`secs` of speech sent one way, while `holder` holds the lock now and then."""
    os.environ[WRITER_ENV] = WAYS[way]
    track = MediaClockAudioTrack(RATE)
    sender, receiver = await connected(track)
    deadline = time.monotonic() + 10
    while not track.paced_off_loop and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    pacer = track._pacer
    assert pacer is not None, "the pacer did not start"
    tone = (8000 * np.sin(2 * np.pi * 220 * np.arange(RATE // 5) / RATE)).astype(np.int16)
    holds_before = len(holder.holds_ms)
    before = (track.counters.audio_packets, track.counters.audio_written_late_10ms)
    track.counters.audio_written_late_ms_max = 0.0
    ends = time.monotonic() + secs
    while time.monotonic() < ends:
        await track.add_audio_bytes(tone.tobytes())  # as pipecat's output waits on it
    packets = track.counters.audio_packets - before[0]
    late = track.counters.audio_written_late_10ms - before[1]
    result = {"writer_process": pacer.link.writer is not None, "packets": packets,
              "written_late_10ms": late, "written_late_share": round(late / max(packets, 1), 4),
              "written_late_ms_max": round(track.counters.audio_written_late_ms_max, 1),
              "lock_holds": len(holder.holds_ms) - holds_before}
    await sender.close()
    await receiver.close()
    return result


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4.2))
    for offset, way in ((-0.2, "writer_process"), (0.2, "pacer_thread")):
        rounds = [r for r in result["rounds"] if r["way"] == way]
        x = np.arange(len(rounds)) + offset
        axis.bar(x, [r["written_late_ms_max"] for r in rounds], width=0.4,
                 label=f"{way.replace('_', ' ')}: worst ms late")
    axis.set_xlabel("round")
    axis.set_ylabel("ms after the packet's time")
    axis.set_title(f"voice packets while the lock is held {result['lock_hold_ms_median']:g} ms "
                   f"every {result['hold_every_secs']:g} s")
    save_plot(figure, axis, out)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    holder = LockHolder(args.hold_ms, args.hold_every)
    holder.start()
    rounds = []
    try:
        for index in tqdm(range(args.rounds), desc="rounds", file=sys.stderr):
            ways = list(WAYS) if index % 2 == 0 else list(reversed(WAYS))
            for way in ways:  # alternated: neither always meets a warmer machine
                rounds.append({"way": way, **await one_round(way, args.secs, holder)})
    finally:
        holder.stop()
    summary = {}
    for way in WAYS:
        mine = [r for r in rounds if r["way"] == way]
        packets = sum(r["packets"] for r in mine)
        late = sum(r["written_late_10ms"] for r in mine)
        summary[way] = {"packets": packets, "written_late_10ms": late,
                        "written_late_share": round(late / max(packets, 1), 4),
                        "written_late_ms_max": max(r["written_late_ms_max"] for r in mine)}
    return {"bench": "datagram_writer", "secs": args.secs, "hold_ms": args.hold_ms,
            "hold_every_secs": args.hold_every,
            "lock_hold_ms_median": round(float(np.median(holder.holds_ms)), 1),
            "switch_interval_ms": SWITCH_INTERVAL_SECS * 1000, **summary, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secs", type=float, default=10.0)
    parser.add_argument("--hold-ms", type=float, default=100.0)
    parser.add_argument("--hold-every", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=RESULTS / "datagram_writer.json")
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL_SECS)
    run_async_figure(run, args, plot)


if __name__ == "__main__":
    main()
