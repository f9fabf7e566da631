"""Causal audio features at the motion frame rate (25 fps), streamed == offline.

Why hand-made log-mel: wav2vec2 and friends cannot be downloaded here, and the
generator needs features it can compute on a live stream with no look-ahead.
Every feature of frame t depends only on samples before the end of frame t, so
the streaming path (`CausalAudioFeaturizer.push`, any chunk sizes) and the
offline path (`compute_features`) produce the same numbers.

Contract (the model/trainer consumes exactly this; keep the names):

- ``SAMPLE_RATE = 16000``, ``FPS = 25``, ``SAMPLES_PER_FRAME = 640``.
- ``FEATURE_DIM`` columns per frame, float32, in this order:
    [0:40)   log-mel of the frame (mean of its 4 sub-frames), 40 bands 50-7600 Hz
    [40:80)  delta log-mel: this frame minus the previous one (silence before t=0)
    [80:84)  log energy of the 4 sub-frames (10 ms apart), the fine timing that
             lip sync needs inside one 40 ms motion frame
- Sub-frame k (k = 1..4) of frame t is a 25 ms Hann window (400 samples, FFT 512)
  that ENDS at sample 640*t + 160*k, so it reaches 240 samples into the previous
  frame and never into the future; samples before the stream start are zeros.
- Normalised with fixed constants (measured once on piper + espeak-ng speech
  mixed with silence), never with per-clip statistics, which would leak the
  future into a live stream. Digital silence maps to about -1.3 on log-mel.
- ``compute_features(pcm)`` returns (len(pcm) // 640, FEATURE_DIM); a trailing
  partial frame is ignored (the streamer keeps it until more samples arrive).
- Input must be float32 mono 16 kHz in [-1, 1]; ``to_16k(pcm, sr)`` resamples
  (and converts int16) first.

Exactness: both paths compute frames in float64 through the same kernel
(`_frames_to_features`) on identical sample windows; rows are independent, so
the float32 results are bit-identical whatever the chunking (tested). The mel
bands' weighted sums are one compiled call (`_mel_sums`) that adds in numpy's own
order for `(power[:, a:b] * weights).sum(axis=1)` (pairwise: eight running sums
from eight terms up), so the features are the numpy loop's bit for bit (tested),
at a tenth of its cost (40 bands, ~4 numpy calls each, twice a live block).
"""

from __future__ import annotations

import numpy as np
import soxr
from numba import njit

SAMPLE_RATE: int = 16000
FPS: int = 25
SAMPLES_PER_FRAME: int = SAMPLE_RATE // FPS  # 640
N_MELS: int = 40
SUBFRAMES: int = 4  # 10 ms hop inside a 40 ms frame
HOP: int = SAMPLES_PER_FRAME // SUBFRAMES  # 160
WIN: int = 400  # 25 ms analysis window
N_FFT: int = 512
HISTORY: int = WIN - HOP  # 240 past samples the first sub-frame of a frame needs
FEATURE_DIM: int = 2 * N_MELS + SUBFRAMES  # 84
MEL_FMIN: float = 50.0
MEL_FMAX: float = 7600.0

# Floor added to the mel power before the log: sets where silence lands. The
# power is of a Hann-windowed frame of [-1, 1] samples (peak speech ~1e1..1e2).
_POWER_FLOOR: float = 1e-6
# Fixed normalisation constants (natural-log units), measured on 35 s of
# piper (joe) and espeak-ng speech with ~1/3 silence; see tests for the check
# that features of real speech come out roughly zero-mean / unit-variance.
_LOGMEL_MEAN: float = -4.6
_LOGMEL_STD: float = 6.9
_DELTA_STD: float = 3.4
_ENERGY_MEAN: float = -8.3
_ENERGY_STD: float = 4.2


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def _mel_filterbank() -> np.ndarray:
    """(N_FFT//2+1, N_MELS) triangular HTK-style filters, area-normalised."""
    bins_hz = np.fft.rfftfreq(N_FFT, 1.0 / SAMPLE_RATE)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(MEL_FMIN), _hz_to_mel(MEL_FMAX), N_MELS + 2))
    bank = np.zeros((len(bins_hz), N_MELS), dtype=np.float64)
    for m in range(N_MELS):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        rise = (bins_hz - lo) / (mid - lo)
        fall = (hi - bins_hz) / (hi - mid)
        bank[:, m] = np.clip(np.minimum(rise, fall), 0.0, None) * (2.0 / (hi - lo))
    return bank * 1000.0  # keep magnitudes near the energy scale


_MEL_BANK: np.ndarray = _mel_filterbank()
#: per mel band, the FFT bins its filter covers and their weights (contiguous)
_MEL_BANDS: tuple[tuple[int, int, np.ndarray], ...] = tuple(
    (int(nz[0]), int(nz[-1]) + 1, np.ascontiguousarray(_MEL_BANK[nz[0]:nz[-1] + 1, m]))
    for m in range(N_MELS) for nz in [np.nonzero(_MEL_BANK[:, m])[0]])
#: the bands as `_mel_sums` reads them: first bin, width, offset into the weights
_MEL_FIRST = np.array([first for first, _, _ in _MEL_BANDS], np.int64)
_MEL_WIDTH = np.array([stop - first for first, stop, _ in _MEL_BANDS], np.int64)
_MEL_OFFSET = np.concatenate([[0], np.cumsum(_MEL_WIDTH)[:-1]]).astype(np.int64)
_MEL_WEIGHTS = np.concatenate([weights for _, _, weights in _MEL_BANDS])
_WINDOW: np.ndarray = np.hanning(WIN + 2)[1:-1].astype(np.float64)  # no zero endpoints
_SILENT_LOGMEL: np.ndarray = np.full(N_MELS, np.log(_POWER_FLOOR), dtype=np.float64)


def _check_pcm(pcm: np.ndarray) -> np.ndarray:
    """Validate the model's input format; why strict: a silent int16->float bug
    (values in the thousands) would otherwise train on garbage without a sound."""
    if not isinstance(pcm, np.ndarray):
        raise ValueError(f"pcm must be a numpy array, got {type(pcm).__name__}")
    if pcm.dtype != np.float32:
        raise ValueError(
            f"pcm must be float32 mono 16 kHz in [-1, 1], got dtype {pcm.dtype} "
            "(use to_16k(pcm, sr) to convert)"
        )
    if pcm.ndim != 1:
        raise ValueError(f"pcm must be mono 1-D (samples,), got shape {pcm.shape}")
    return pcm


@njit(cache=True, nogil=True)
def _mel_sums(power: np.ndarray, first: np.ndarray, width: np.ndarray, offset: np.ndarray,
              weights: np.ndarray, mel: np.ndarray) -> None:
    """mel[s, m] = (power[s, first:first + width] * band weights).sum(), in numpy's
    order for a contiguous row (add.reduce's pairwise sum: under eight terms one by
    one from 0.0; from eight, eight running sums over blocks of eight, combined
    ((0+1)+(2+3))+((4+5)+(6+7)), then the rest one by one). Bands are at most 128
    bins wide, so numpy never splits them further."""
    for s in range(power.shape[0]):
        for m in range(first.shape[0]):
            f, n, o = first[m], width[m], offset[m]
            if n < 8:
                res = 0.0
                for i in range(n):
                    res += power[s, f + i] * weights[o + i]
            else:
                r0 = power[s, f] * weights[o]
                r1 = power[s, f + 1] * weights[o + 1]
                r2 = power[s, f + 2] * weights[o + 2]
                r3 = power[s, f + 3] * weights[o + 3]
                r4 = power[s, f + 4] * weights[o + 4]
                r5 = power[s, f + 5] * weights[o + 5]
                r6 = power[s, f + 6] * weights[o + 6]
                r7 = power[s, f + 7] * weights[o + 7]
                i = 8
                whole = n - n % 8
                while i < whole:
                    r0 += power[s, f + i] * weights[o + i]
                    r1 += power[s, f + i + 1] * weights[o + i + 1]
                    r2 += power[s, f + i + 2] * weights[o + i + 2]
                    r3 += power[s, f + i + 3] * weights[o + i + 3]
                    r4 += power[s, f + i + 4] * weights[o + i + 4]
                    r5 += power[s, f + i + 5] * weights[o + i + 5]
                    r6 += power[s, f + i + 6] * weights[o + i + 6]
                    r7 += power[s, f + i + 7] * weights[o + i + 7]
                    i += 8
                res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
                while i < n:
                    res += power[s, f + i] * weights[o + i]
                    i += 1
            mel[s, m] = 0.0 + res  # add.reduce starts from its identity


def _frames_to_features(
    signal: np.ndarray, n_frames: int, prev_logmel: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Features of `n_frames` frames from `signal` = HISTORY past samples + frames.

    Returns (features float32 (n_frames, FEATURE_DIM), last frame's raw log-mel).
    """
    if n_frames == 0:
        return np.zeros((0, FEATURE_DIM), np.float32), prev_logmel
    n_sub = n_frames * SUBFRAMES
    # sub-frame j ends at HISTORY + HOP*(j+1) in `signal`, so it starts at HOP*j.
    starts = HOP * np.arange(n_sub)
    windows = signal[starts[:, None] + np.arange(WIN)[None, :]].astype(np.float64)  # (S, WIN)
    spec = np.fft.rfft(windows * _WINDOW, n=N_FFT, axis=1)  # (S, N_FFT//2+1)
    power = spec.real**2 + spec.imag**2
    # Per-band weighted sums row by row (no BLAS: its blocking depends on the
    # number of rows, which would break streamed == offline bit-exactness).
    mel = np.empty((n_sub, N_MELS), dtype=np.float64)
    _mel_sums(power, _MEL_FIRST, _MEL_WIDTH, _MEL_OFFSET, _MEL_WEIGHTS, mel)
    logmel_sub = np.log(mel + _POWER_FLOOR).reshape(n_frames, SUBFRAMES, N_MELS)
    logmel = logmel_sub.mean(axis=1)  # (F, N_MELS)
    delta = np.diff(logmel, axis=0, prepend=prev_logmel[None, :])
    energy = np.log((windows**2).mean(axis=1) + _POWER_FLOOR).reshape(n_frames, SUBFRAMES)
    out = np.concatenate(
        [
            (logmel - _LOGMEL_MEAN) / _LOGMEL_STD,
            delta / _DELTA_STD,
            (energy - _ENERGY_MEAN) / _ENERGY_STD,
        ],
        axis=1,
    ).astype(np.float32)
    return out, logmel[-1].copy()


def compute_features(pcm: np.ndarray) -> np.ndarray:
    """Offline features of a whole clip: (len(pcm) // 640, FEATURE_DIM) float32.

    Identical to pushing the same samples through a fresh CausalAudioFeaturizer.
    """
    pcm = _check_pcm(pcm)
    n_frames = len(pcm) // SAMPLES_PER_FRAME
    signal = np.concatenate([np.zeros(HISTORY, np.float32), pcm[: n_frames * SAMPLES_PER_FRAME]])
    feats, _ = _frames_to_features(signal, n_frames, _SILENT_LOGMEL)
    return feats


class CausalAudioFeaturizer:
    """Streaming featurizer: push PCM chunks of any size, get whole frames back.

    Keeps only the last HISTORY samples, the partial frame and the previous
    frame's log-mel, so memory is constant over a session of any length.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next sample is treated as the stream start."""
        self._buffer = np.zeros(HISTORY, dtype=np.float32)  # HISTORY past + pending
        self._prev_logmel = _SILENT_LOGMEL.copy()
        self.frames_emitted = 0

    def push(self, pcm: np.ndarray) -> np.ndarray:
        """Add samples; return features of the frames completed: (n_new, FEATURE_DIM)."""
        pcm = _check_pcm(pcm)
        self._buffer = np.concatenate([self._buffer, pcm])
        n_frames = (len(self._buffer) - HISTORY) // SAMPLES_PER_FRAME
        if n_frames == 0:
            return np.zeros((0, FEATURE_DIM), np.float32)
        used = HISTORY + n_frames * SAMPLES_PER_FRAME
        feats, self._prev_logmel = _frames_to_features(
            self._buffer[:used], n_frames, self._prev_logmel
        )
        self._buffer = self._buffer[used - HISTORY :].copy()
        self.frames_emitted += n_frames
        return feats


def compile_now() -> None:
    """Compile (or load from numba's disk cache) `_mel_sums` with the types the features
    pass it, on one frame of silence: a fresh process's first reply block does not pay
    for it (avatar/render/raster.py's `compile_now`, which a face worker's prime, the
    server's assets and `make setup` call, calls this)."""
    compute_features(np.zeros(SAMPLES_PER_FRAME, np.float32))


def to_16k(pcm: np.ndarray, sr: int) -> np.ndarray:
    """Convert mono or (samples, channels) audio at `sr` to float32 mono 16 kHz.

    int16 input is scaled to [-1, 1]; channels are averaged; soxr (high quality,
    not causal: for files and TTS output, not for a live stream) resamples.
    """
    if not isinstance(pcm, np.ndarray):
        raise ValueError(f"pcm must be a numpy array, got {type(pcm).__name__}")
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if pcm.dtype == np.int16:
        audio = pcm.astype(np.float32) / 32768.0
    elif pcm.dtype == np.int32:
        audio = pcm.astype(np.float32) / 2147483648.0
    elif np.issubdtype(pcm.dtype, np.floating):
        audio = pcm.astype(np.float32)
    else:
        raise ValueError(f"unsupported pcm dtype {pcm.dtype}")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    elif audio.ndim != 1:
        raise ValueError(f"pcm must be (samples,) or (samples, channels), got {audio.shape}")
    if sr == SAMPLE_RATE:
        return np.ascontiguousarray(audio, dtype=np.float32)
    return np.asarray(soxr.resample(audio, sr, SAMPLE_RATE), dtype=np.float32)
