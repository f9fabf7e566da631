"""The reply queue's pause when a live clock took the next block ahead
(avatar/live/reply_queue.py): the audio of every frame planned and not yet rendered
goes back to the front of the queue, in order, the frames still waiting of the block
before included. Before, only the block taken last gave its audio back, and the earlier
block's frames went out silent with theirs lost."""

from __future__ import annotations

import numpy as np

from avatar.live.reply_queue import ReplyQueue
from avatar.live.session_types import SessionStats

RATE = 22050
SPF = RATE // 25  # output samples a frame
N = 5  # frames a block


def queue_with(pcm: np.ndarray) -> ReplyQueue:
    queue = ReplyQueue(RATE, SPF, SessionStats())
    queue.append(pcm.astype(np.float32) / 32768.0)  # exact back to int16
    return queue


def render(queue: ReplyQueue, first: int, count: int, generation: int) -> None:
    for index in range(first, first + count):
        assert not queue.rendered(index, generation, SPF)


def test_a_pause_gives_back_the_frames_still_waiting_of_the_block_before_the_one_taken_ahead(
) -> None:
    pcm = (np.arange(4 * N * SPF) % 20000).astype(np.int16)
    queue = queue_with(pcm)
    first = queue.take_block(N, 2, 0)
    render(queue, 0, 2, first.generation)  # two frames out, three waiting
    ahead = queue.take_block(N, 2, N)  # the next block taken ahead
    assert ahead.out == pcm[N * SPF:2 * N * SPF].tobytes()
    queue.pause()
    assert queue.generation == first.generation + 1  # the planned frames go out silent
    queue.paused = False  # resumed
    back = queue.take_block(2 * N, 0, 2 * N)
    assert back.out == pcm[2 * SPF:(2 + 2 * N) * SPF].tobytes()
    assert back.position == (2 + 2 * N) * SPF  # what was handed out, nothing counted twice


def test_a_pause_gives_back_only_what_was_not_rendered_when_the_block_before_went_out(
) -> None:
    pcm = (np.arange(4 * N * SPF) % 20000).astype(np.int16)
    queue = queue_with(pcm)
    first = queue.take_block(N, 2, 0)
    render(queue, 0, N, first.generation)  # the whole block out
    queue.take_block(N, 2, N)
    render(queue, N, 1, first.generation)
    queue.pause()
    queue.paused = False
    assert queue.take_block(N, 0, 2 * N).out == pcm[(N + 1) * SPF:(2 * N + 1) * SPF].tobytes()
