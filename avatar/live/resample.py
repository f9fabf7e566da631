"""A streaming resampler: reply audio at the TTS rate -> 16 kHz model features.

Why not `audio_features.to_16k`: it resamples a whole clip at once, and a live
reply arrives in chunks. Resampling each chunk on its own clicks at every chunk
edge; soxr's `ResampleStream` keeps its filter state between chunks, so the
streamed output equals the whole clip resampled once (up to the filter delay,
which soxr compensates: output sample k is aligned with input time k / rate).
"""

from __future__ import annotations

import numpy as np
import soxr

from avatar.audio_features import SAMPLE_RATE


class StreamingResampler:
    """int16 or float PCM at `in_rate` -> float32 16 kHz in [-1, 1], chunk by chunk."""

    def __init__(self, in_rate: int, out_rate: int = SAMPLE_RATE) -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream: soxr.ResampleStream | None = None
        self.reset()

    def reset(self) -> None:
        """Drop the filter state (after a barge-in: the next reply starts clean)."""
        self._stream = (None if self.in_rate == self.out_rate
                        else soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="float32"))

    def push(self, pcm: np.ndarray, *, last: bool = False) -> np.ndarray:
        """Resample the next chunk; `last` flushes the filter's tail (end of a reply)."""
        audio = as_float32(pcm)
        if self._stream is None:
            return audio
        out = np.asarray(self._stream.resample_chunk(audio, last=last), dtype=np.float32)
        if last:
            self.reset()
        return out

    def flush(self) -> np.ndarray:
        """The samples still inside the filter, then a fresh stream."""
        return self.push(np.zeros(0, np.float32), last=True)


def as_float32(pcm: np.ndarray | bytes) -> np.ndarray:
    """int16 PCM (array or little-endian bytes) or float audio -> float32 in [-1, 1]."""
    if isinstance(pcm, bytes | bytearray | memoryview):
        if len(pcm) % 2:
            raise ValueError(f"PCM s16le needs whole samples, got {len(pcm)} bytes")
        return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    arr = np.asarray(pcm)
    if arr.ndim != 1:
        raise ValueError(f"PCM must be mono (samples,), got shape {arr.shape}")
    if arr.dtype == np.int16:
        return arr.astype(np.float32) / 32768.0
    if np.issubdtype(arr.dtype, np.floating):
        return arr.astype(np.float32)
    raise ValueError(f"unsupported PCM dtype {arr.dtype}")
