"""A reply's voice goes out ahead of its first frame's grid on our websocket, on the
real generator (face_clock.py `REPLY_LEAD_SECS`).

`AvatarForcingVideoService` paced as on our websocket (no image lead, images not held
behind their audio: the transport stamps each image with the audio clock where it is
queued) in front of pipecat's own output path playing to memory (benchkit/pipecat_sink.py),
piper speech as the TTS frames. Before, every frame of a reply after its first went out
on the first one's 40 ms grid and never ahead of it, so a client held no more of the
voice than its own jitter buffer, and a block step or a drawing late by more than that
was a break in the voice. Behaviour only: ahead of the grid by at least a frame in the
reply's first second, by no more than the lead, and back on the grid after it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from pipelines import AvatarForcingVideoService
from pipelines.face import face_clock
from pipelines.face.face_clock import FRAME_SECS, REPLY_LEAD_SECS, REPLY_LEAD_UNTIL_SECS
from tests.pipelines.face_runs import Pacing, piper_speech, start_run

pytestmark = pytest.mark.e2e

#: the scheduler's own slack around a push, and the memory transport's in noting it on
#: a loaded box (s): not a lead (0.01 read 0.0100 over at load 2.8)
JITTER_SECS = 0.03


@pytest.fixture(scope="module")
def piper_reply() -> tuple[np.ndarray, int]:
    """A spoken reply a little over two seconds long by the bundled piper voice."""
    return piper_speech("The restrooms are on the second floor, next to the cafe.")


@pytest.mark.parametrize("thought_up_gaps", [True, False], ids=["", "without-thought-up-gaps"])
async def test_on_our_websocket_a_replys_voice_goes_ahead_of_its_first_frames_grid(
        avatar_assets: Any, piper_reply: tuple[np.ndarray, int], thought_up_gaps: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The lead is the transport's, not the thought-up gaps': it stays with them off."""
    monkeypatch.setattr(face_clock, "THOUGHT_UP_GAPS", thought_up_gaps)
    pcm, rate = piper_reply
    assert len(pcm) / rate > REPLY_LEAD_UNTIL_SECS + 0.2, "the reply is too short to test"
    run = await start_run(avatar_assets, Pacing.WEBSOCKET)
    await asyncio.sleep(1.0)  # idle frames before the reply
    await run.speak(pcm, rate, chunk_secs=0.5)
    await asyncio.sleep(len(pcm) / rate + 1.0)
    await run.end()

    assert isinstance(run.face, AvatarForcingVideoService)
    first = run.face.counters.first_frames
    assert first.replies == 1, first
    reply_frames = int(len(pcm) / rate / FRAME_SECS)
    pushed = [(t, index) for (t, _), index in zip(run.played.pushed_audio,
                                                  run.played.pushed_frames, strict=True)
              if index is not None and first.frame_index <= index < first.frame_index + reply_frames]
    assert [i for _, i in pushed] == list(range(first.frame_index,
                                                first.frame_index + reply_frames)), pushed
    t_first = pushed[0][0]
    # how far each frame went ahead of the first frame's grid (s)
    ahead = {index - first.frame_index: (index - first.frame_index) * FRAME_SECS - (t - t_first)
             for t, index in pushed}
    start = [a for k, a in ahead.items() if k * FRAME_SECS < 1.0]
    later = [a for k, a in ahead.items() if k * FRAME_SECS >= REPLY_LEAD_UNTIL_SECS]
    assert max(start) >= FRAME_SECS, f"the reply's voice never went a frame ahead: {start}"
    assert max(ahead.values()) <= REPLY_LEAD_SECS + JITTER_SECS, ahead
    assert later and max(later) <= JITTER_SECS, f"still ahead after its first seconds: {later}"
