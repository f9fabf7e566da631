"""A reply's first frames are ready with its first audio, on the real generator.

`AvatarForcingVideoService` in front of pipecat's own output path playing to memory in
real time (benchkit/pipecat_sink.py), the shipped generator and default portrait,
piper speech as the TTS frames. Behaviour only:
- the reply's first image is drawn before its first audio goes out, and is shown
  within a frame of that audio playing (no early mouth, no late mouth), over
  pipecat's live video and with images released behind their audio;
- the service records the reply's way out (first_frames.py) in order, from its
  first audio to its first frames, in its `metrics` counters; the reply's first frame
  goes ahead of its block's generator step (face_generator.py `REPLY_LEAD_IN`), and
  where its first 40 ms is piper's lead silence it shows the image the face shows
  (the one it held while the reply was thought up), so its voice waits for no drawing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame

from benchkit.pipecat_sink import audio_held_secs
from pipelines import AvatarForcingVideoService
from tests.pipelines.face_runs import (
    Pacing,
    piper_speech,
    start_run,
    visitor_asks_then_reply_is_thought_up,
)

pytestmark = pytest.mark.e2e

FRAME_SECS = 0.04
#: the first image against its audio on the device, at most: one frame of the video
#: schedule either way, plus the scheduler's jitter on a shared machine
WITHIN_SECS = FRAME_SECS + 0.02


@pytest.fixture(scope="module")
def piper_reply() -> tuple[np.ndarray, int]:
    """A short spoken reply by the bundled piper voice (int16, 22,050 Hz)."""
    return piper_speech("The restrooms are on the second floor.")


@pytest.mark.parametrize("images_with_audio, thought_up", [
    (False, False), (True, False), (True, True)],
    ids=["live-video", "images-with-audio", "in-the-thinking-hold"])
async def test_a_replys_first_image_is_shown_with_its_first_audio(
        avatar_assets: Any, piper_reply: tuple[np.ndarray, int], images_with_audio: bool,
        thought_up: bool) -> None:
    """`thought_up`: the visitor spoke and stopped before the reply, so it comes while
    the face holds its last image (`thinking_hold_secs`): the reply's first 40 ms (piper's
    lead silence) goes on showing it, and its next frame is a new drawing."""
    pcm, rate = piper_reply
    run = await start_run(avatar_assets, Pacing.IMAGES_WITH_AUDIO if images_with_audio
                          else Pacing.LIVE_VIDEO)
    await asyncio.sleep(1.0)  # idle frames before the reply, as between two turns
    if thought_up:
        await visitor_asks_then_reply_is_thought_up(run)  # the face holds its image
    await run.speak(pcm, rate, chunk_secs=0.5)
    await asyncio.sleep(len(pcm) / rate + 1.5)
    await run.end()

    assert isinstance(run.face, AvatarForcingVideoService)
    first = run.face.counters.first_frames
    assert first.replies == 1, first
    steps = [first.audio_in, first.block_from, first.block_done, first.drawn,
             first.image_out, first.audio_out]
    assert all(steps), f"a step of the reply's way out was not recorded: {first}"
    assert steps == sorted(steps), f"out of order: {first}"
    # the reply's first frame went ahead of its block's generator step (a lead-in): its
    # audio waited for no step; and piper's first 40 ms (lead silence) asks no wider jaw
    # than the idle face shows, so it waited for no drawing either: the lead-in showed the
    # image drawn just before it
    assert first.lead_in and first.block_from == first.block_done, first
    assert first.lead_in_shown, first
    # the chunk holding the reply's first audio, where the device played it
    played = [t for t, held in audio_held_secs(run.played) if t - held >= first.audio_out - 1e-6]
    assert played, "the reply's first audio never played"
    heard_at = played[0]
    # where the device showed the reply's first image (the frame it animates): live
    # video writes each image; images released behind their audio become the device's
    # picture when released (pipecat redraws its picture at its frame rate, so an image
    # the next one replaces within that frame is shown, never written)
    shown_at = run.bot.released if images_with_audio else run.played.images
    shown = [t for t, image in shown_at
             if getattr(image, "frame_index", None) == first.frame_index]
    assert shown, "the reply's first image never reached the transport"
    assert abs(shown[0] - heard_at) <= WITHIN_SECS, (
        f"first image shown {1000 * (shown[0] - heard_at):+.0f} ms from its audio")
    if thought_up:
        # the face held its image while the reply was thought up; the reply's lead-in
        # (its lead silence) shows it again, and the frame after it is a new drawing
        assert run.face.counters.frames_held_thinking >= 5, run.face.counters
        images = [image for _, image in shown_at if hasattr(image, "frame_index")]
        first_image = next(i for i in images if i.frame_index == first.frame_index)
        held = [i for i in images if i.frame_index < first.frame_index]
        assert held and held[-1].image == first_image.image
        after = [i for i in images if i.frame_index > first.frame_index]
        assert after and after[0].image != first_image.image, "the reply's lips never moved"
    stats = run.face.stats()
    assert stats["first_frames_replies"] == 1 and stats["first_frames_lead_in"] == 1
    assert stats["first_frames_lead_in_shown"] == 1
    assert 0 <= stats["first_frames_drawn_ms"] <= stats["first_frames_audio_out_ms"], stats


#: a stall of the event loop: long enough to show, short of the clock's rebase (0.25 s)
STALL_SECS = 0.2


async def test_after_a_stall_the_reply_does_not_wait_behind_idle_audio(
        avatar_assets: Any, piper_reply: tuple[np.ndarray, int]) -> None:
    """A stalled loop makes the clock catch up: the idle audio it pushes at once waits in
    a transport that plays in real time, and every later chunk waits behind it. Where
    images travel with their audio (our websocket, a transport whose images are
    released behind their audio) the clock leaves idle frames out until that wait is
    gone, so the next reply's voice is not held behind the stall."""
    pcm, rate = piper_reply
    run = await start_run(avatar_assets, Pacing.IMAGES_WITH_AUDIO)
    await asyncio.sleep(1.0)
    time.sleep(STALL_SECS)  # noqa: ASYNC251 (the stall is the point: the whole loop stops)
    await asyncio.sleep(1.0)
    await run.speak(pcm, rate, chunk_secs=0.5)
    await asyncio.sleep(len(pcm) / rate + 1.5)
    await run.end()

    assert isinstance(run.face, AvatarForcingVideoService)
    assert run.face.counters.idle_frames_drained >= 2, run.face.counters
    first = run.face.counters.first_frames
    held = [h for t, h in audio_held_secs(run.played) if t - h >= first.audio_out - 1e-6]
    assert held, "the reply's first audio never played"
    # what a chunk waits in a device that keeps no more than one queued: a frame
    assert held[0] <= FRAME_SECS + 0.03, f"the reply waited {1000 * held[0]:.0f} ms behind idle audio"


async def test_while_the_reply_is_thought_up_one_idle_frame_in_two_is_left_out(
        avatar_assets: Any, piper_reply: tuple[np.ndarray, int]) -> None:
    """Where images travel with their audio, the face leaves out every odd idle frame
    whole while a reply is thought up (its picture is the one held anyway): the reply's
    first audio then goes in that gap at once, or after the one idle frame before it,
    instead of waiting for the next frame's slot. Every image sent keeps its own audio,
    and the reply plays whole, paired with its images."""
    pcm, rate = piper_reply
    pcm = pcm[: rate // 2]  # half a second of the reply is enough
    run = await start_run(avatar_assets, Pacing.IMAGES_WITH_AUDIO)
    await run.send(VADUserStartedSpeakingFrame())
    await asyncio.sleep(0.1)
    await run.send(VADUserStoppedSpeakingFrame())
    await asyncio.sleep(0.1)  # the stop reached the face
    thought_from = len(run.played.pushed_frames)
    await asyncio.sleep(0.5)
    await run.speak(pcm, rate, chunk_secs=0.5)
    await asyncio.sleep(len(pcm) / rate + 0.3)
    await run.end()

    assert isinstance(run.face, AvatarForcingVideoService)
    counters, first = run.face.counters, run.face.counters.first_frames
    assert counters.idle_frames_left_out_thought_up >= 5, counters
    assert first.replies == 1, first
    pushed = [i for i in run.played.pushed_frames if i is not None]
    thought = [i for i in run.played.pushed_frames[thought_from:]
               if i is not None and i < first.frame_index]
    assert len(thought) >= 4, thought
    # one in two: only even frames went out while the reply was thought up
    assert all(b - a == 2 for a, b in zip(thought, thought[1:], strict=False)), thought
    # the reply's frames went out one after another, from its first
    reply = [i for i in pushed if i >= first.frame_index]
    assert reply[0] == first.frame_index and reply == list(range(reply[0], reply[-1] + 1))
    # every image released went with its own frame's audio, none for a frame left out
    released = {getattr(image, "frame_index", None) for _, image in run.bot.released}
    released = {i for i in released if i is not None and i <= pushed[-1]}  # not the last cut
    assert released and released <= set(pushed), sorted(released - set(pushed))
    # and all of them: the reply's samples, a frame at a time
    assert len(reply) >= len(pcm) * 25 // rate, (len(reply), len(pcm) / rate)
