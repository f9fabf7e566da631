"""Figure: bench/results/writer_share.json and .png, the CPU of the processes that
write one WebRTC session's datagrams: one process for the peer connection's voice
and face (shipped) against one process a link (before), alternated in one run.

A real aiortc sender and receiver on loopback, the sender with our
MediaClockAudioTrack and MediaClockVideoTrack, each paced off the event loop by its
pacer on an RtpLink, as a speaking face's session sends: 40 ms of voice and one
512 px VP8 image every 40 ms (the bundled portrait, moved a little each frame, so
each image differs; encoded once before the rounds, as the face's worker encodes
them). "per_link" gives each link a writer of its own by keying its lease by the
link instead of the peer connection (the design before). `writers_cpu_percent` is
the writer processes' CPU (user + system, from /proc) over the round's `--secs`, in
% of one core; `receiver_packets_lost` what the receiver counted lost.

    .venv/bin/python bench/webrtc/writer_share.py [--rounds 3] [--secs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from aiortc import RTCPeerConnection
from tqdm import tqdm

import pipelines.wire.webrtc.rtp_link as rtp_link
from avatar.live.video_codec import VideoRequest, Vp8Stream
from avatar.portrait import default_portrait_path
from benchkit.bench_args import run_async_figure, save_plot
from benchkit.loopback_peers import drain_tracks, offer_and_answer
from benchkit.paths import RESULTS
from pipelines.server.interpreter_timing import SWITCH_INTERVAL_SECS
from pipelines.wire.webrtc.datagram_writer import WriterLease, lease_writer
from pipelines.wire.webrtc.rtp_link import RtpLink
from pipelines.wire.webrtc.tracks import MediaClockAudioTrack
from pipelines.wire.webrtc.video_track import MediaClockVideoTrack

RATE = 24_000
FRAME_SECS = 0.04
SIZE = 512
WAYS = ("per_peer", "per_link")


def encoded_frames(count: int) -> list[tuple[np.ndarray, bytes, bool]]:
    """`count` images of the bundled portrait, shifted a pixel a frame and back, each
    VP8-encoded as the face's worker does."""
    bgr = cv2.imread(str(default_portrait_path()))
    if bgr is None:
        raise FileNotFoundError(f"the bundled portrait did not load: {default_portrait_path()}")
    portrait = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    portrait = cv2.resize(portrait, (SIZE + 16, SIZE + 16))
    stream, frames = Vp8Stream(), []
    for index in range(count):
        shift = index % 16 if (index // 16) % 2 == 0 else 15 - index % 16
        image = np.ascontiguousarray(portrait[shift:shift + SIZE, shift:shift + SIZE])
        encoded = stream.encode(image, VideoRequest(keyframe=index == 0))
        frames.append((image, encoded.data, encoded.keyframe))
    return frames


def process_cpu_secs(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_round(way: str, secs: float, frames: list[tuple[np.ndarray, bytes, bool]]
                    ) -> dict[str, Any]:
    """`secs` of a speaking face sent with the writers leased `way`."""
    keys: list[Any] = []

    def per_link(key: Any) -> WriterLease:
        keys.append(type("LinkKey", (), {})())  # a key of the link's own, kept alive
        return lease_writer(keys[-1])

    rtp_link.lease_writer = per_link if way == "per_link" else lease_writer  # type: ignore[attr-defined]
    audio = MediaClockAudioTrack(RATE)
    video = MediaClockVideoTrack(audio)
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    audio_tx = sender.addTransceiver(audio, direction="sendonly")
    video_tx = sender.addTransceiver(video, direction="sendonly")
    audio.link_factory = lambda: RtpLink.attach(audio_tx.sender, audio_tx._codecs[0])
    video.link_factory = lambda: RtpLink.attach(video_tx.sender, video_tx._codecs[0])

    drain_tracks(receiver)
    await offer_and_answer(sender, receiver)
    deadline = time.monotonic() + 10
    while not (audio.paced_off_loop and video.paced_off_loop) \
            and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert audio._pacer is not None and video._pacer is not None, "the pacers did not start"
    links = (audio._pacer.link, video._pacer.link)
    while not all(link.writer for link in links) \
            and time.monotonic() < deadline:  # noqa: ASYNC110 (the pacer threads start them)
        await asyncio.sleep(0.05)
    pids = {link.writer.pid for link in links if link.writer is not None}
    assert len(pids) == (1 if way == "per_peer" else 2), f"writers {pids} for {way}"
    t = np.arange(int(RATE * FRAME_SECS)) / RATE
    voice = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16).tobytes()
    cpu_before = sum(process_cpu_secs(pid) for pid in pids)
    started = time.monotonic()
    index = 0
    while time.monotonic() - started < secs:
        image, data, keyframe = frames[index % len(frames)]
        video.add_image(image, data, keyframe or video.take_keyframe_request())
        await audio.add_audio_bytes(voice)  # as pipecat's output waits on it
        index += 1
    elapsed = time.monotonic() - started
    cpu = sum(process_cpu_secs(pid) for pid in pids) - cpu_before
    stats = await receiver.getStats()
    lost = sum(s.packetsLost for s in stats.values() if s.type == "inbound-rtp")
    await sender.close()
    await receiver.close()
    return {"writer_processes": len(pids), "secs": round(elapsed, 2), "frames": index,
            "writers_cpu_percent": round(100 * cpu / elapsed, 2),
            "receiver_packets_lost": int(lost)}


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = {"per_peer": "one writer process a peer connection (shipped)",
              "per_link": "one writer process a link (before)"}
    figure, axis = plt.subplots(figsize=(7, 4))
    for offset, way in ((-0.2, "per_peer"), (0.2, "per_link")):
        rounds = [r for r in result["rounds"] if r["way"] == way]
        axis.bar(np.arange(len(rounds)) + offset, [r["writers_cpu_percent"] for r in rounds],
                 width=0.4, label=labels[way])
    axis.set_xticks(np.arange(len(result["rounds"]) // 2))
    axis.set_ylim(0, 1.5 * max(r["writers_cpu_percent"] for r in result["rounds"]))
    axis.set_xlabel("round (the two alternated)")
    axis.set_ylabel("writer processes' CPU, % of a core")
    axis.set_title("one session's voice and 512 px face over WebRTC")
    save_plot(figure, axis, out)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    frames = encoded_frames(64)
    rounds = []
    for index in tqdm(range(args.rounds), desc="rounds", file=sys.stderr):
        ways = WAYS if index % 2 == 0 else tuple(reversed(WAYS))
        for way in ways:  # alternated: neither always meets a warmer machine
            rounds.append({"way": way, **await one_round(way, args.secs, frames)})
    rtp_link.lease_writer = lease_writer  # type: ignore[attr-defined]
    summary = {way: round(float(np.median([r["writers_cpu_percent"] for r in rounds
                                           if r["way"] == way])), 2) for way in WAYS}
    return {"bench": "writer_share", "secs": args.secs, "image_px": SIZE,
            "frame_bytes_mean": round(float(np.mean([len(f[1]) for f in frames]))),
            "writers_cpu_percent_per_peer": summary["per_peer"],
            "writers_cpu_percent_per_link": summary["per_link"],
            "ratio": round(summary["per_peer"] / max(summary["per_link"], 1e-9), 3),
            "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--secs", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "writer_share.json")
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL_SECS)  # as the server runs
    run_async_figure(run, args, plot)


if __name__ == "__main__":
    main()
