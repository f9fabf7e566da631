"""The avatar's reply audio between TTS and the frames it drives.

The reply arrives much faster than real time and waits here twice: at the
session's output rate (what is played, cut into each frame's exact chunk) and at
16 kHz (what the generator's audio features read, look-ahead included). A block
takes its frames' audio from the front of both.

Barge-in and pauses. `clear()` drops the queue; `pause()` gives the audio of
frames planned but not yet rendered back to the queue (of every block taken whose
frames are not all rendered: a live clock may take the next block while the frames of
the one before still wait to go). Both bump `generation`:
a frame planned under an older generation goes out silent, so no stale reply
audio leaves after the barge-in, and a paused reply resumes at the first sample
not played.

Not locked itself: every method but `at_output_rate` runs under the session's lock
(avatar/live/session.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.audio_features import SAMPLE_RATE, SAMPLES_PER_FRAME
from avatar.live.resample import StreamingResampler, as_float32
from avatar.live.session_types import SessionStats


@dataclass(frozen=True)
class ReplyBlock:
    """The reply audio one block takes from the queue (empty while paused)."""

    #: the queue's generation when taken: the block is stale once it moves on
    generation: int
    #: 16 kHz samples the block's features look at, its frames and the look-ahead
    window_16k: np.ndarray
    #: 16 kHz samples of the block's own frames
    played_16k: np.ndarray
    #: PCM s16le at the output rate, the block's frames (shorter at the reply's end)
    out: bytes
    #: reply samples output up to the end of this block (session-cumulative)
    position: int


class ReplyQueue:
    """The queued reply audio and its counters (see the module docstring)."""

    def __init__(self, output_rate: int, samples_per_frame: int, stats: SessionStats) -> None:
        """`samples_per_frame`: output-rate samples in one 40 ms frame; `stats`: the
        session's counters (pauses and clears are counted there)."""
        self.output_rate = output_rate
        self._samples_per_frame = samples_per_frame
        self._stats = stats
        self._out = bytearray()
        self._16k = np.zeros(0, np.float32)
        self._to_16k = StreamingResampler(output_rate, SAMPLE_RATE)
        self._to_out: dict[int, StreamingResampler] = {}
        self.queued_total = 0  # reply samples ever queued (output rate), minus cleared
        self._played_total = 0  # reply samples ever output
        self._reply_played = 0  # of the current reply
        self.generation = 0  # bumped by clear() and pause(): a block across it goes silent
        self.paused = False  # pause(): the reply waits, the face listens
        self._last_rendered = -1  # index of the last frame handed to render()
        #: the reply audio of the block taken last, and of the one before it while that
        #: one's frames are not all rendered, oldest first, to give back what was not
        #: yet sent on a pause: (generation, first frame index, frames, output-rate
        #: bytes, 16 kHz samples)
        self._blocks: list[tuple[int, int, int, bytes, np.ndarray]] = []
        #: the block taken last carries reply audio
        self._last_real = False

    def at_output_rate(self, pcm: bytes | np.ndarray, sample_rate: int) -> np.ndarray:
        """Reply audio (PCM s16le bytes or an array, any rate) as float samples at the
        output rate, for `append`. Runs in the pushing thread, outside the lock."""
        audio = as_float32(pcm)
        if sample_rate != self.output_rate:
            resampler = self._to_out.setdefault(
                sample_rate, StreamingResampler(sample_rate, self.output_rate))
            audio = resampler.push(audio)
        return audio

    def append(self, audio: np.ndarray) -> None:
        """Queue float reply audio at the output rate."""
        pcm16 = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)  # exact
        self._out.extend(pcm16.tobytes())
        self._16k = np.concatenate([self._16k, self._to_16k.push(audio)])
        self.queued_total += len(pcm16)

    def flush(self) -> None:
        """The reply's audio is complete: the 16 kHz resampler's tail joins the queue."""
        self._16k = np.concatenate([self._16k, self._to_16k.flush()])

    def take_block(self, frames: int, lookahead: int, first_index: int) -> ReplyBlock:
        """The reply audio of the next `frames` frames (from frame `first_index`),
        removed from the queue and counted as played; nothing while paused."""
        generation = self.generation
        if self.paused:  # the reply waits in its queues; this block listens
            window_16k = played_16k = np.zeros(0, np.float32)
            out = b""
        else:
            window_16k = self._16k[: (frames + lookahead) * SAMPLES_PER_FRAME]
            played_16k = self._16k[: frames * SAMPLES_PER_FRAME]
            self._16k = self._16k[frames * SAMPLES_PER_FRAME:]
            size = frames * self._samples_per_frame * 2
            out = bytes(self._out[:size])
            del self._out[:size]
        real = len(out) // 2
        # the block just before this one, while its frames still wait to be rendered
        # (a live clock takes the next block ahead), has audio to give back too
        unsent = [block for block in self._blocks[-1:]
                  if block[1] + block[2] == first_index
                  and first_index > self._last_rendered + 1]
        self._blocks = ([*unsent, (generation, first_index, frames, out, played_16k)]
                        if real else unsent)
        self._last_real = real > 0
        self._played_total += real
        return ReplyBlock(generation, window_16k, played_16k, out, self._played_total)

    def rendered(self, index: int, generation: int, reply_samples: int) -> bool:
        """Frame `index`, planned under `generation`, is being drawn: True if it is
        stale (planned before a clear or a pause); else its reply samples count as
        handed out."""
        stale = generation != self.generation
        self._last_rendered = index
        if not stale:  # what clear() reports: reply audio actually handed out
            self._reply_played += reply_samples
        return stale

    def pause(self) -> None:
        """Stop the reply at the next frame and keep the rest: the audio of the blocks
        taken and not yet rendered goes back to the front of the queue, in order."""
        if self.paused:
            return
        self.paused = True
        self._stats.pauses += 1
        blocks, self._blocks, self._last_real = self._blocks, [], False
        back, back_16k = b"", []
        for generation, first_index, _, out, samples_16k in blocks:
            if generation != self.generation:
                continue
            first_unsent = max(0, self._last_rendered + 1 - first_index)  # frames sent
            back += out[first_unsent * self._samples_per_frame * 2:]
            back_16k.append(samples_16k[first_unsent * SAMPLES_PER_FRAME:])
        if not back:
            return  # all of their reply audio is out already
        self._out[:0] = back
        self._16k = np.concatenate([*back_16k, self._16k])
        self._played_total -= len(back) // 2
        self.generation += 1  # the planned frames go out silent

    def clear(self) -> float:
        """Drop the queued reply; the seconds of it that were handed out."""
        played = self._reply_played / self.output_rate
        self._out.clear()
        self._16k = np.zeros(0, np.float32)
        self._to_16k.reset()
        self.queued_total = self._played_total
        self._reply_played = 0
        self.generation += 1
        self.paused = False
        self._blocks, self._last_real = [], False
        self._stats.cleared += 1
        return played

    def take_all(self) -> bytes:
        """The queued reply audio not yet planned into frames, removed (counts as played)."""
        out = bytes(self._out)
        self._out.clear()
        self._16k = np.zeros(0, np.float32)
        self._to_16k.reset()
        self._played_total += len(out) // 2
        return out

    @property
    def pending_secs(self) -> float:
        """Reply audio queued and not yet output."""
        return len(self._out) / 2 / self.output_rate

    @property
    def playing(self) -> bool:
        """A reply is being voiced: its audio waits in the queue, or the block taken
        last carries some; not while paused (the face listens then)."""
        return not self.paused and (len(self._out) > 0 or self._last_real)


__all__ = ["ReplyBlock", "ReplyQueue"]
