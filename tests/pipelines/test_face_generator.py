"""The face's jobs give way to the voice models while the reply is thought up, and
take full priority back once the reply's audio has come: its first frames are then
what the visitor waits for. A real session and worker; the niceness is the one the
worker thread reports (Linux)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
from avatar.live import AvatarSession, SessionOptions
from avatar.portrait import Portrait
from pipelines.face.face_generator import FaceGenerator
from pipelines.face.face_stats import FaceCounters
from pipelines.face.face_threads import FaceThreads
from pipelines.face.reply_state import ReplyState

RATE = 16_000
NICE = 5

pytestmark = pytest.mark.skipif(not hasattr(os, "getpriority"),
                                reason="thread priorities are Linux's")


def thread_nice() -> int:
    """The calling thread's nice above its process's main thread."""
    return (os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            - os.getpriority(os.PRIO_PROCESS, os.getpid()))


@pytest.fixture(scope="module")
def generator() -> Iterator[FaceGenerator]:
    session = AvatarSession(Portrait.default(256), load_generator(DEFAULT_CHECKPOINT),
                            output_rate=RATE, options=SessionOptions(size=256))
    worker = FaceThreads(threads=1, nice=NICE)
    yield FaceGenerator(session, worker, ReplyState(), FaceCounters())
    worker.shutdown()
    session.close()


def test_the_face_yields_while_the_reply_is_thought_up_until_its_audio_comes(
        generator: FaceGenerator) -> None:
    async def nice_of_a_job() -> int:
        return int(await generator.job(thread_nice))

    assert not generator.yielding()
    assert asyncio.run(nice_of_a_job()) == 0  # the visitor speaks: full priority

    generator.reply.thinking_until = time.monotonic() + 30  # the visitor paused
    assert generator.yielding()
    assert asyncio.run(nice_of_a_job()) == NICE

    speech = (np.sin(np.arange(RATE) * 2 * np.pi * 220 / RATE) * 8000).astype(np.int16)
    generator.session.push_avatar_audio(speech.tobytes(), RATE)  # the reply's first audio
    assert generator.reply.thinking()  # the camera still waits
    assert not generator.yielding()
    assert asyncio.run(nice_of_a_job()) == 0
    frames = asyncio.run(generator.job(generator.session.next_block))
    assert any(frame.speaking for frame in frames)  # the reply's block, drawn at full priority
