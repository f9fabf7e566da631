"""The first reply of a freshly built `AvatarForcingVideoService` has a live face.

An app that greets its caller at once sends the greeting's TTS audio right behind
`StartFrame`, before the face's worker processes could be ready. The service is
built with no assets of its own and a portrait folder no other test uses, so its
assets load from scratch, as on the first call of a process: the reply must come
out with images whose mouth moves with it (not a still picture, not the voice
alone), with its voice (not ahead of it), the whole reply must be heard, and the
face must then move to a worker process while the video goes on, once the reply is
out: a face that moves restarts the generator's memory, and mid-reply that drew the
rest of the reply's jaw off its voice.

Real models throughout (the shipped generator, the bundled portrait, piper speech
as the TTS frames, mediapipe on the output images), in front of pipecat's own
output path ending in memory (benchkit/pipecat_sink.py). Behaviour only: how soon
the face shows is bench/live/first_face.py's to say.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from avatar.live.face_pool import WorkerFace
from benchkit.pipecat_sink import (
    audio_held_secs,
    lip_sync,
    loud,
    mouth_openings,
    start_face_run,
)
from pipelines import AvatarForcingVideoService
from pipelines.face import face_assets

pytestmark = pytest.mark.e2e

OUT_RATE = 24000
SIZE = 256
GREETING = ("Hello and welcome! I am the assistant of this shop. Ask me anything about "
            "our opening hours, the garden centre or the paint aisle.")
#: the video never stops this long (a liveness bound, not a speed goal)
STOPPED_SECS = 2.0
#: the mouth's best lag behind the voice, at most (ms): two of the measure's 40 ms
#: slots (frames pushed before the pipeline downstream had started reached the
#: transport at once, and the images ran 200-300 ms ahead of their voice)
SYNC_MS = 80


@pytest.fixture(scope="module")
def greeting() -> tuple[np.ndarray, int]:
    """The greeting in the bundled piper voice (int16 at its own rate)."""
    from benchkit.speech import load_test_voice, piper_int16

    voice = load_test_voice()
    return piper_int16(voice, GREETING), voice.config.sample_rate


async def test_a_fresh_services_first_reply_has_a_moving_face(
        tmp_path: Path, greeting: tuple[np.ndarray, int], monkeypatch: pytest.MonkeyPatch) -> None:
    pcm, rate = greeting
    monkeypatch.setattr(face_assets, "KEEP_WARM_SECS", 0.0)  # later tests need no warm face
    settings = AvatarForcingVideoService.Settings(
        portrait_dir=tmp_path, size=SIZE, adapt_video=False, camera_fps=0.0)
    service = AvatarForcingVideoService(settings=settings)
    run = await start_face_run(service, out_rate=OUT_RATE, size=SIZE, wait_for_image=False)
    spoken_at = time.monotonic()
    await run.speak(pcm, rate)  # right behind StartFrame
    deadline = time.monotonic() + 120
    while not isinstance(service.session.face if service.ready else None, WorkerFace):
        assert time.monotonic() < deadline, "the face never moved to a worker process"
        await asyncio.sleep(0.02)
    moved_at = time.monotonic()
    await asyncio.sleep(max(1.0, spoken_at + len(pcm) / rate + 1.5 - time.monotonic()))
    await run.end()

    # the whole reply was heard
    voiced = sum(len(a) // 2 for t, a in run.played.audio if t >= spoken_at and loud(a))
    assert voiced / OUT_RATE >= 0.6 * len(pcm) / rate, (voiced / OUT_RATE, len(pcm) / rate)
    # images came with it, and the mouth moved with the speech: wider while the audio
    # is loud than in its pauses and after it (a still picture, or none, fails here)
    audio = [(t, a) for t, a in run.played.audio if t >= spoken_at]
    first, last = min(t for t, a in audio if loud(a)), max(t for t, a in audio if loud(a))
    images = [(t, f) for t, f in run.played.images if first <= t <= last]
    assert len(images) >= 0.5 * (last - first) / 0.04, (len(images), last - first)
    sample = [(t, f) for t, f in run.played.images if first <= t <= last + 1.0][::2]
    openings = mouth_openings([f for _, f in sample])
    times = np.array([t for t, _ in audio])
    loud_at = np.array([loud(a) for _, a in audio])
    speaking = np.array([loud_at[max(0, int(np.searchsorted(times, t)) - 1)] for t, _ in sample])
    found = ~np.isnan(openings)
    assert found.mean() > 0.9, "the landmarker lost the avatar's face"
    talking, quiet = openings[found & speaking], openings[found & ~speaking]
    assert len(talking) >= 10 and len(quiet) >= 3, (len(talking), len(quiet))
    assert np.median(talking) > np.median(quiet) + 0.05, (np.median(talking), np.median(quiet))
    # and with the voice: the images as the transport wrote them against its audio
    lag_ms, r = lip_sync(images, run.played)
    assert lag_ms is not None and abs(lag_ms) <= SYNC_MS, (lag_ms, r)
    # the face moved once its reply had left it, not mid-reply (the push of the reply's
    # last loud chunk: its time on the device less what the transport held)
    held = dict(audio_held_secs(run.played))
    assert moved_at > last - held[last], (moved_at - spoken_at, last - held[last] - spoken_at)
    # the video went on from the first image through the move to a worker process
    shown = np.array([t for t, _ in run.played.images])
    assert np.diff(shown).max() < STOPPED_SECS, f"the video stopped for {np.diff(shown).max():.2f} s"
    assert service.failed is None and not run.errors, run.errors


async def test_a_fresh_services_first_reply_is_drawn_at_the_asked_size(
        tmp_path: Path, greeting: tuple[np.ndarray, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """The drop-in service in front of a 512 px transport, asked nothing else, greets at
    once: every image of the reply drawn before the machine is measured (the face in
    this process, no worker ready yet) is at 512 px, not a smaller face scaled up."""
    pcm, rate = greeting
    monkeypatch.setattr(face_assets, "KEEP_WARM_SECS", 0.0)
    asked = 512
    settings = AvatarForcingVideoService.Settings(portrait_dir=tmp_path, camera_fps=0.0)
    service = AvatarForcingVideoService(settings=settings)
    run = await start_face_run(service, out_rate=OUT_RATE, size=asked, wait_for_image=False)
    spoken_at = time.monotonic()
    await run.speak(pcm, rate)
    moved_at = None  # when the face moved to a worker process (measured from there on)
    deadline = time.monotonic() + len(pcm) / rate + 1.5
    while time.monotonic() < deadline:
        if moved_at is None and service.ready and isinstance(service.session.face, WorkerFace):
            moved_at = time.monotonic()
        await asyncio.sleep(0.05)
    await run.end()

    audio = [(t, a) for t, a in run.played.audio if t >= spoken_at and loud(a)]
    assert audio, "the reply was not heard"
    first, last = audio[0][0], audio[-1][0]
    # as drawn, before pipecat's transport scales every image to its own size
    before_move = [size for t, size in run.played.drawn
                   if first <= t <= min(last, moved_at or last)]
    assert len(before_move) >= 25, (len(before_move), moved_at, first)
    assert set(before_move) == {(asked, asked)}, set(before_move)
    assert service.failed is None and not run.errors, run.errors
