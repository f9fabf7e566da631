"""Rule-based baseline avatar: the synthetic corpus's motion rules, driven live.

Why it exists: the evaluation needs a non-learned reference, and the corpus's
rules are exactly that. Given the avatar's own audio (and, when the TTS provides
them, its phoneme timings) plus the user's audio and face motion, it produces
avatar motion causally and deterministically (fixed seed), frame by frame, with
the same RuleEngine that animated the corpus. What it cannot know live and so
never uses: the script's intents (jokes, question ends) — only the corpus has
those.

    baseline = RuleBaseline(reference_motion=portrait_motion)
    baseline.add_phonemes(alignments, start_s=0.0)      # optional, from piper
    frame = baseline.step(avatar_pcm_640, user_pcm_640, user_motion_prev)
    track = RuleBaseline().run(avatar_pcm, user_pcm, user_motion)  # offline, same result
"""

from __future__ import annotations

import numpy as np

from avatar.audio_features import FPS, SAMPLES_PER_FRAME
from avatar.corpus.rules import FrameInput, RuleEngine
from avatar.corpus.speaker_traits import Style, default_style
from avatar.corpus.visemes import EnergyMouth, phoneme_mouth, resolve_phonemes
from avatar.motion import MOTION_DIM, MotionTrack, neutral_frame

_STRESS_RISE_DB = 8.0  # an energy jump this large stands in for a stressed syllable


def _frame_db(frame: np.ndarray) -> float:
    return float(10.0 * np.log10(np.mean(np.square(frame, dtype=np.float64)) + 1e-10))


class RuleBaseline:
    """Causal, deterministic rule-based avatar motion (one instance per session)."""

    def __init__(self, reference_motion: np.ndarray | None = None, style: Style | None = None,
                 seed: int = 0) -> None:
        ref = neutral_frame() if reference_motion is None else np.asarray(
            reference_motion, dtype=np.float32)
        if ref.shape != (MOTION_DIM,):
            raise ValueError(f"reference_motion must be ({MOTION_DIM},), got {ref.shape}")
        self.reference, self.style, self.seed = ref, style or default_style(), seed
        self.reset()

    def reset(self) -> None:
        """Start a new session: same seed, so the same inputs give the same motion."""
        self._engine = RuleEngine(self.reference, self.style, np.random.default_rng(self.seed))
        self._energy_mouth = EnergyMouth()
        self._spans: list[tuple[str, float, float]] = []
        self._stress_frames: set[int] = set()
        self._prev_db = -100.0
        self.t = 0

    @property
    def events(self) -> list[dict[str, object]]:
        return self._engine.events

    def add_phonemes(self, phonemes: list[tuple[str, float, float]], start_s: float) -> None:
        """Register piper alignments (phoneme, t0, t1 relative to the clip) playing at start_s.

        Frames covered by phonemes take their mouth from visemes (exact timing);
        other frames fall back to the energy-driven jaw.
        """
        spans, stresses = resolve_phonemes(phonemes)
        self._spans.extend((c, t0 + start_s, t1 + start_s) for c, t0, t1 in spans)
        self._stress_frames.update(int((s + start_s) * FPS) for s in stresses)

    def _mouth(self, energy_db: float) -> np.ndarray:
        energy_mouth = self._energy_mouth.step(energy_db)
        t0 = (self.t - 1) / FPS
        near = [(c, a - t0, b - t0) for c, a, b in self._spans
                if b > t0 - 0.1 and a < t0 + 3.0 / FPS + 0.1]
        if not near:
            return energy_mouth
        # frames t-1, t, t+1 so the [1,2,1] smoothing matches the offline corpus
        return phoneme_mouth(near, 3)[1]

    def step(self, avatar_pcm: np.ndarray, user_pcm: np.ndarray,
             user_motion: np.ndarray | None) -> np.ndarray:
        """Next motion frame from one frame (640 samples) of each audio channel.

        user_motion: the user's motion of the PREVIOUS frame (None if no face).
        """
        for name, pcm in (("avatar_pcm", avatar_pcm), ("user_pcm", user_pcm)):
            if np.shape(pcm) != (SAMPLES_PER_FRAME,):
                raise ValueError(f"{name} must be one frame of {SAMPLES_PER_FRAME} samples, "
                                 f"got shape {np.shape(pcm)}")
        if user_motion is not None and np.shape(user_motion) != (MOTION_DIM,):
            raise ValueError(f"user_motion must be ({MOTION_DIM},), got {np.shape(user_motion)}")
        own_db, user_db = _frame_db(avatar_pcm), _frame_db(user_pcm)
        stress = self.t in self._stress_frames or (
            not self._stress_frames and own_db - self._prev_db > _STRESS_RISE_DB and own_db > -35)
        self._prev_db = own_db
        frame = self._engine.step(FrameInput(
            own_mouth=self._mouth(own_db), own_energy_db=own_db, other_energy_db=user_db,
            other_motion=None if user_motion is None else np.asarray(user_motion, np.float32),
            own_stress=stress,
        ))
        self.t += 1
        return frame

    def run(self, avatar_pcm: np.ndarray, user_pcm: np.ndarray,
            user_motion: MotionTrack | np.ndarray | None,
            avatar_phonemes: list[tuple[str, float, float]] | None = None) -> MotionTrack:
        """Offline convenience: the same `step` loop over whole tracks (from a reset)."""
        self.reset()
        if avatar_phonemes:
            self.add_phonemes(avatar_phonemes, 0.0)
        n = min(len(avatar_pcm), len(user_pcm)) // SAMPLES_PER_FRAME
        motion, found = None, None
        if isinstance(user_motion, MotionTrack):
            motion, found = user_motion.data, user_motion.found
        elif user_motion is not None:
            motion = np.asarray(user_motion, np.float32)
        if motion is not None:
            n = min(n, len(motion))
        out = np.zeros((n, MOTION_DIM), np.float32)
        for t in range(n):
            prev = None
            if motion is not None and t > 0 and (found is None or found[t - 1]):
                prev = motion[t - 1]
            sl = slice(t * SAMPLES_PER_FRAME, (t + 1) * SAMPLES_PER_FRAME)
            out[t] = self.step(avatar_pcm[sl], user_pcm[sl], prev)
        return MotionTrack(out, fps=FPS)


def corpus_phonemes(meta: dict[str, object], role: str) -> list[tuple[str, float, float]]:
    """A corpus dialogue's phoneme timing for one role (absolute seconds; [] if none).

    Corpus meta.json (generator_version >= 2) stores piper alignments per segment;
    feed them to `RuleBaseline.run(..., avatar_phonemes=...)` for exact visemes.
    """
    segments = meta.get("segments", [])
    if not isinstance(segments, list):
        raise ValueError("meta['segments'] must be a list")
    return [(str(ph), float(t0), float(t1)) for seg in segments if seg.get("speaker") == role
            for ph, t0, t1 in seg.get("phonemes", [])]

