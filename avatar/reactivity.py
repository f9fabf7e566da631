"""Does the avatar react to a real person? Reactivity measures for a listening avatar.

Why a module of its own: the held-out corpus metrics (avatar/metrics.py)
are drawn from the distribution the model trained on, so they showed a reactive
model while, on a real person's face, it ignored the face entirely. Here the
user side is real: a real face track (analysed from video by the bundled
landmarker) with real recorded speech as the user's audio, and the avatar says
nothing, so it listens. Three contingencies are measured on what it generates:

- user smile -> avatar smile: the lagged cross-correlation between the user's
  smile (relative to their median) and the avatar's; its best value over human
  lags (0.3-1.2 s) is `smile_r`. Also as an event-triggered average at the
  user's smile onsets.
- user speech pause -> avatar nod: the avatar's head pitch after each pause
  that ends >= 1 s of user speech (event-triggered average, chin-down peak
  against the same measure at random times).
- user speech onset -> avatar attention: brow raise after each speech onset.

And the listening head's restlessness: yaw and pitch standard deviation.

A counterfactual probe (`smile_pulse_response`) adds smile pulses to a real
track and measures the change of the avatar's smile with the same noise: the
causal effect of the user's smile, free of anything else in the input.

No dependency on the generator's internals: a variant is any function from a
`ListeningSession` to (T, 58) motion aligned to its input frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from avatar.audio_features import FPS, SAMPLES_PER_FRAME, compute_features
from avatar.corpus.signals import frame_energy_db, vad
from avatar.motion import MOTION_DIM, column_index

SMILE = (column_index("mouthSmileLeft"), column_index("mouthSmileRight"))
CHEEK_SQUINT = (column_index("cheekSquintLeft"), column_index("cheekSquintRight"))
BROW = (column_index("browInnerUp"), column_index("browOuterUpLeft"),
        column_index("browOuterUpRight"))
YAW, PITCH = column_index("yaw"), column_index("pitch")
HEAD_WINDOW_S = 5.0  # restlessness: head std inside 5 s windows (slow drift excluded)
HUMAN_LAGS_S = (0.3, 1.2)  # a listener's smile answers 0.3-1.2 s after the speaker's
SMILE_ONSET = 0.15  # user smile above their median that counts as a smile onset
PAUSE_AFTER_TALK_S = 1.0


@dataclass(frozen=True)
class ListeningSession:
    """A real user in front of a listening avatar (all arrays at 25 fps, T frames)."""

    name: str
    user_motion: np.ndarray  # (T, 58) real face track
    user_audio: np.ndarray  # (T, 84) features of real speech
    user_speaking: np.ndarray  # (T,) bool, energy VAD of that speech
    avatar_audio: np.ndarray  # (T, 84) features of silence: the avatar listens
    reference: np.ndarray  # (58,) the avatar portrait's neutral face
    user_pcm: np.ndarray | None = None  # 16 kHz float32, T * 640 samples (rule baseline)


Variant = Callable[[ListeningSession], np.ndarray]


def listening_session(name: str, user_motion: np.ndarray, user_pcm: np.ndarray,
                      reference: np.ndarray) -> ListeningSession:
    """Pair a real face track with real speech (16 kHz float, looped or cut to
    the track's length); the avatar's own channel is silent."""
    frames = len(user_motion)
    need = frames * SAMPLES_PER_FRAME
    if len(user_pcm) == 0:
        raise ValueError("user speech is empty")
    reps = int(np.ceil(need / len(user_pcm)))
    pcm = np.tile(np.asarray(user_pcm, np.float32), reps)[:need]
    features = compute_features(pcm)[:frames]
    silence = compute_features(np.zeros(need, np.float32))[:frames]
    speaking = vad(frame_energy_db(pcm))[:frames]
    return ListeningSession(name, np.asarray(user_motion, np.float32), features, speaking,
                            silence, np.asarray(reference, np.float32), pcm)


def smile(motion: np.ndarray) -> np.ndarray:
    """Mean of the two mouthSmile columns, per frame."""
    return np.asarray(motion)[:, list(SMILE)].mean(axis=1)


def lagged_correlation(x: np.ndarray, y: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """Pearson r of x[t] with y[t + lag] for each lag (frames, >= 0: y follows x)."""
    out = np.full(len(lags), np.nan)
    for i, lag in enumerate(lags):
        a, b = (x[: len(x) - lag], y[lag:]) if lag >= 0 else (x[-lag:], y[: len(y) + lag])
        if len(a) > 10 and a.std() > 1e-6 and b.std() > 1e-6:
            out[i] = float(np.corrcoef(a, b)[0, 1])
    return out


def event_average(signal: np.ndarray, events: np.ndarray, pre: int, post: int) -> np.ndarray:
    """Mean of signal[e - pre : e + post] over events, each relative to its own
    mean over the `pre` frames before the event; NaN rows if no event fits."""
    rows = [signal[e - pre:e + post] - signal[e - pre:e].mean()
            for e in events if e - pre >= 0 and e + post <= len(signal)]
    if not rows:
        return np.full(pre + post, np.nan)
    return np.mean(rows, axis=0)


def onsets(mask: np.ndarray, min_gap: int = 0) -> np.ndarray:
    """Frames where a boolean run starts after at least `min_gap` frames without
    one (a run at the very start counts: what came before is unknown)."""
    m = mask.astype(np.int8)
    starts = np.flatnonzero(np.diff(m, prepend=0) == 1)
    ends = np.flatnonzero(np.diff(m, append=0) == -1) + 1
    kept = [int(s) for s in starts
            if not (ends < s).any() or s - ends[ends < s].max() >= min_gap]
    return np.asarray(kept, dtype=int)


def pause_events(speaking: np.ndarray) -> np.ndarray:
    """Frames where the user stops after talking >= PAUSE_AFTER_TALK_S."""
    ends = np.flatnonzero(np.diff(speaking.astype(np.int8), append=0) == -1) + 1
    out = []
    for e in ends:
        run = e - 1
        while run > 0 and speaking[run - 1]:
            run -= 1
        if e - run >= PAUSE_AFTER_TALK_S * FPS:
            out.append(int(e))
    return np.asarray(out, dtype=int)


def measure(session: ListeningSession, motion: np.ndarray,
            rng: np.random.Generator | None = None) -> dict[str, float]:
    """Reactivity of one generated track (T, 58) against its session's user."""
    if motion.shape != (len(session.user_motion), MOTION_DIM):
        raise ValueError(f"motion must be {(len(session.user_motion), MOTION_DIM)}, "
                         f"got {motion.shape}")
    user_smile = smile(session.user_motion)
    user_smile = user_smile - np.median(user_smile)
    lags = np.arange(0, int(2.0 * FPS) + 1)
    r = lagged_correlation(user_smile, smile(motion), lags)
    human = (lags >= HUMAN_LAGS_S[0] * FPS) & (lags <= HUMAN_LAGS_S[1] * FPS)
    best = int(np.nanargmax(np.where(human, r, -np.inf))) if np.isfinite(r[human]).any() else 0
    pitch, brow = motion[:, PITCH], motion[:, list(BROW)].mean(axis=1)
    pauses = pause_events(session.user_speaking)
    starts = onsets(session.user_speaking, min_gap=int(1.0 * FPS))
    rng = rng or np.random.default_rng(0)
    random_times = rng.integers(FPS, max(FPS + 1, len(motion) - 2 * FPS), size=64)
    nod = event_average(pitch, pauses, FPS // 2, int(1.5 * FPS))
    nod_random = event_average(pitch, random_times, FPS // 2, int(1.5 * FPS))
    attention = event_average(brow, starts, FPS // 2, FPS)
    attention_random = event_average(brow, random_times, FPS // 2, FPS)
    return {
        "smile_r": float(r[best]) if np.isfinite(r[best]) else float("nan"),
        "smile_lag_ms": float(lags[best] / FPS * 1000.0),
        "smile_r_lag0": float(r[0]),
        "avatar_smile_p95": float(np.percentile(smile(motion), 95)),
        "nod_deg_after_pause": float(np.nanmax(nod[FPS // 2:])),
        "nod_deg_random": float(np.nanmax(nod_random[FPS // 2:])),
        "pauses": float(len(pauses)),
        "brow_after_onset": float(np.nanmax(attention[FPS // 2:])),
        "brow_random": float(np.nanmax(attention_random[FPS // 2:])),
        "yaw_std": window_std(motion[:, YAW]),
        "pitch_std": window_std(motion[:, PITCH]),
    }


def window_std(signal: np.ndarray, mask: np.ndarray | None = None,
               window_s: float = HEAD_WINDOW_S) -> float:
    """Mean standard deviation inside non-overlapping windows that lie wholly in
    `mask` (all frames if None): how restless a head is, without its slow drift,
    comparable between a whole listening session and a person's quiet stretches."""
    n = int(window_s * FPS)
    ok = np.ones(len(signal), bool) if mask is None else np.asarray(mask, bool)
    stds = [float(signal[i:i + n].std()) for i in range(0, len(signal) - n + 1, n)
            if ok[i:i + n].all()]
    return float(np.mean(stds)) if stds else float("nan")


def quiet_frames(motion: np.ndarray) -> np.ndarray:
    """Frames where a real person is not talking: the jaw's 1 s rolling spread
    stays low (a listener's stretches in a recording of someone who talks)."""
    jaw = motion[:, column_index("jawOpen")]
    n = FPS
    padded = np.pad(jaw, (n // 2, n - n // 2 - 1), mode="edge")
    spread = np.lib.stride_tricks.sliding_window_view(padded, n).std(axis=1)
    return spread < 0.03


def smile_pulses(motion: np.ndarray, amplitude: float = 0.5, every_s: float = 5.0,
                 length_s: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """The track with smile pulses added (smile and cheek squint, 0.2 s ramps) and
    the pulse onset frames: a probe of the causal effect of a smile."""
    frames = len(motion)
    starts = np.arange(int(2 * FPS), frames - int(3 * FPS), int(every_s * FPS))
    k = np.arange(frames)[None, :] - starts[:, None]
    ramp, length = 5, int(length_s * FPS)
    profile = (np.clip(k / ramp, 0, 1) * np.clip((length + ramp - k) / ramp, 0, 1)).sum(0)
    out = np.array(motion, np.float32, copy=True)
    for col in SMILE:
        out[:, col] = np.clip(out[:, col] + amplitude * profile, 0, 1)
    for col in CHEEK_SQUINT:
        out[:, col] = np.clip(out[:, col] + 0.4 * amplitude * profile, 0, 1)
    return out, starts


def smile_pulse_response(variant: Variant, session: ListeningSession,
                         amplitude: float = 0.5) -> tuple[np.ndarray, dict[str, float]]:
    """Avatar smile with pulses minus without (same session otherwise), averaged
    over pulse onsets from -0.5 to +3 s; and its peak and peak time."""
    pulsed_motion, starts = smile_pulses(session.user_motion, amplitude)
    base = smile(variant(session))
    pulsed = smile(variant(replace(session, user_motion=pulsed_motion)))
    response = event_average(pulsed - base, starts, FPS // 2, 3 * FPS)
    peak = int(np.nanargmax(response))
    return response, {"pulse_peak": float(response[peak]),
                      "pulse_peak_ms": float((peak - FPS // 2) / FPS * 1000.0)}


def lag_curve(session: ListeningSession, motion: np.ndarray) -> np.ndarray:
    """Lagged r (lags 0..2 s) of user smile -> avatar smile, for plots."""
    user_smile = smile(session.user_motion)
    return lagged_correlation(user_smile - np.median(user_smile), smile(motion),
                              np.arange(0, int(2.0 * FPS) + 1))


def nod_curve(session: ListeningSession, motion: np.ndarray) -> np.ndarray:
    """Avatar head pitch around the user's pauses (-0.5 .. +1.5 s), for plots."""
    return event_average(motion[:, PITCH], pause_events(session.user_speaking), FPS // 2,
                         int(1.5 * FPS))
