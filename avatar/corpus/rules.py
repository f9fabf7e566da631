"""Causal motion rules for one conversational partner, one frame at a time.

The same engine writes the synthetic corpus (both partners) and is the
rule-based baseline (avatar/baseline.py), so it only looks at what a live
avatar can see at frame t:

- its OWN speech: the mouth offsets from its phonemes/energy (own TTS audio is
  known before playback), its energy, stressed-syllable onsets; in the corpus
  also the script's intents (smile while joking, laughing, question ends);
- the OTHER side up to frame t: audio energy (mic) and face motion of frame t-1.

Speaker rules (while own VAD is on): mouth from visemes, head moves more and
nods on stressed syllables with louder speech tilting the chin down, brows flash
on some emphases and at question ends, gaze is averted at some turn starts.
Listener rules (reactions to the other): a backchannel nod when the partner
pauses after talking >= 1 s, smiles answered after a human-like delay (and
decaying after theirs), brow flashes answered, laughs joined with a broad
smile, attention gaze when the partner starts talking, occasional gaze shifts.
Always: blinks every ~3-5 s lasting ~160 ms, slow head drift, small sensor-like
jitter. Every reaction is logged as an event (type, time, cause) for meta.json.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from avatar.audio_features import FPS
from avatar.corpus import gestures as g
from avatar.corpus.signals import CausalVad
from avatar.corpus.speaker_traits import Style
from avatar.motion import MOTION_DIM, POSE_SLICE, column_index

_TX, _TY, _SCALE = column_index("tx"), column_index("ty"), column_index("scale")
_BLEND = slice(POSE_SLICE.stop, MOTION_DIM)
_SMILE_DETECT = 0.12  # partner smile above their running baseline that counts as a smile
_BROW_DETECT = 0.12


@dataclass
class FrameInput:
    """What the rules see at one frame (see the module docstring for causality)."""

    own_mouth: np.ndarray  # (MOTION_DIM,) mouth offsets from visemes/energy
    own_energy_db: float
    other_energy_db: float
    other_motion: np.ndarray | None  # partner's motion at t-1; None if unseen
    own_stress: bool = False
    own_smile_intent: float = 0.0  # 0..1, script only
    own_laugh: float = 0.0  # >0 while laughing (intensity), script only
    own_question_end: bool = False  # script only


class _AR2:
    """Smooth random drift: two cascaded AR(1) filters (no jitter, ~tau seconds)."""

    def __init__(self, rng: np.random.Generator, tau_s: float, dims: int) -> None:
        self.rng, self.a = rng, float(np.exp(-1.0 / (tau_s * FPS)))
        self.x1 = np.zeros(dims)
        self.x2 = np.zeros(dims)

    def step(self, sigma: np.ndarray) -> np.ndarray:
        self.x1 = self.a * self.x1 + np.sqrt(1 - self.a**2) * self.rng.normal(size=len(sigma))
        self.x2 = self.a * self.x2 + (1 - self.a) * self.x1
        return self.x2 * sigma * 1.35  # the cascade changes the variance: std ~ sigma


class RuleEngine:
    """One partner's motion, generated causally frame by frame by `step`."""

    def __init__(self, neutral: np.ndarray, style: Style, rng: np.random.Generator,
                 name: str = "") -> None:
        if neutral.shape != (MOTION_DIM,):
            raise ValueError(f"neutral must be ({MOTION_DIM},), got {neutral.shape}")
        self.neutral = neutral.astype(np.float32)
        self.style, self.rng, self.name = style, rng, name
        self.t = 0
        self.events: list[dict[str, object]] = []
        self._gestures: list[tuple[int, np.ndarray]] = []  # (start frame, profile)
        self._drift = _AR2(rng, tau_s=1.2, dims=3)
        self._own_vad, self._other_vad = CausalVad(), CausalVad()
        self._own_speaking = self._other_speaking = False
        self._other_talk_frames = 0  # length of the partner's current/last talk run
        self._other_silence_frames = 0
        self._next_blink = self._blink_interval()
        self._next_gaze = int(rng.uniform(2, 6) * FPS)
        self._smile = 0.0
        self._smile_history: deque[float] = deque(maxlen=int(2 * FPS))
        self._other_smile_base: float | None = None
        self._other_brow_base: float | None = None
        self._other_brow_prev = 0.0
        self._other_laugh_frames = 0
        self._laugh_boost = 0.0
        self._next_talk_nod = int(rng.uniform(3, 7) * FPS)
        self._prev_stress_frame = -100
        self._loud = 0.0

    # ---- helpers -------------------------------------------------------------
    def _blink_interval(self) -> int:
        mean = self.style.blink_mean_s
        return max(int(0.6 * FPS), int(self.rng.gamma(4.0, mean / 4.0) * FPS))

    def _play(self, profile: np.ndarray, kind: str, cause: str, delay_frames: int = 0) -> None:
        start = self.t + delay_frames
        self._gestures.append((start, profile))
        if kind != "blink":
            self.events.append({"type": kind, "t": round(start / FPS, 3), "cause": cause})

    def _gesture_sum(self) -> np.ndarray:
        out = np.zeros(MOTION_DIM, np.float32)
        alive = []
        for start, profile in self._gestures:
            k = self.t - start
            if k < len(profile):
                alive.append((start, profile))
                if k >= 0:
                    out += profile[k]
        self._gestures = alive
        return out

    # ---- the rules -----------------------------------------------------------
    def step(self, x: FrameInput) -> np.ndarray:
        """Motion frame (MOTION_DIM,) float32 for the current frame; advances time."""
        s, rng = self.style, self.rng
        was_speaking, was_other = self._own_speaking, self._other_speaking
        self._own_speaking = self._own_vad.step(x.own_energy_db)
        self._other_speaking = self._other_vad.step(x.other_energy_db)

        # partner's talk/pause bookkeeping -> backchannel nods at their pauses
        if self._other_speaking:
            if not was_other:
                self._other_talk_frames = 0
                if not self._own_speaking and rng.random() < 0.5:  # attention: eyes back
                    self._gestures = [(st, p) for st, p in self._gestures
                                      if not np.any(p[:, g.LOOK_LEFT_EYE["out"]])]
            self._other_talk_frames += 1
            self._other_silence_frames = 0
        else:
            self._other_silence_frames += 1
            if (self._other_silence_frames == 1 and self._other_talk_frames >= FPS
                    and not self._own_speaking and rng.random() < s.nod_prob):
                reps = 2 if rng.random() < 0.3 else 1
                amp = s.nod_deg * rng.uniform(0.7, 1.1)
                self._play(g.nod(amp, rng.uniform(0.45, 0.65), reps), "nod", "partner_pause",
                           int(rng.integers(0, 5)))
        # slow listening nods during a long partner turn
        if self._other_speaking and not self._own_speaking:
            self._next_talk_nod -= 1
            if self._next_talk_nod <= 0:
                if rng.random() < s.nod_prob * 0.6:
                    self._play(g.nod(s.nod_deg * 0.5, 0.7), "nod", "listening")
                self._next_talk_nod = int(rng.uniform(3, 7) * FPS)

        # partner's face: smiles, brow flashes, laughs (relative to their baseline)
        other_smile_excess = 0.0
        other = x.other_motion
        if other is not None:
            smile = float(other[list(g.SMILE)].mean())
            brow = float(other[g.BROW_INNER])
            if self._other_smile_base is None:
                self._other_smile_base, self._other_brow_base = smile, brow
            base_s = self._other_smile_base
            assert self._other_brow_base is not None
            # the baseline follows the partner's lows quickly and their highs slowly
            rate = 0.05 if smile < base_s else 0.002
            self._other_smile_base = base_s + rate * (smile - base_s)
            self._other_brow_base += (0.05 if brow < self._other_brow_base else 0.002) * (
                brow - self._other_brow_base)
            other_smile_excess = max(0.0, smile - self._other_smile_base - _SMILE_DETECT)
            brow_excess = brow - self._other_brow_base
            if (brow_excess > _BROW_DETECT >= self._other_brow_prev
                    and rng.random() < s.brow_prob):
                self._play(g.brow_raise(0.25 * s.expressiveness, 0.7), "brow",
                           "partner_brow", int(rng.uniform(0.2, 0.4) * FPS))
            self._other_brow_prev = brow_excess
            laughing = (smile - self._other_smile_base > 0.25 and float(other[g.JAW]) > 0.15
                        and self._other_speaking)
            self._other_laugh_frames = self._other_laugh_frames + 1 if laughing else 0
            if self._other_laugh_frames == 4 and rng.random() < s.laugh_prob:
                self._laugh_boost = 0.5
                self.events.append({"type": "smile", "t": round(self.t / FPS, 3),
                                    "cause": "partner_laugh"})
        self._smile_history.append(other_smile_excess)
        delay = int(s.smile_delay_s * FPS)
        delayed = self._smile_history[-delay - 1] if len(self._smile_history) > delay else 0.0

        # own speech: turn starts avert gaze; stresses nod/brow; question ends tilt
        if self._own_speaking and not was_speaking and rng.random() < s.gaze_aversion * 0.6:
            direction = str(rng.choice(["left", "right", "up", "down"]))
            self._play(g.gaze_shift(direction, rng.uniform(0.25, 0.5), rng.uniform(0.5, 1.5)),
                       "gaze", "turn_start")
        if x.own_stress and self._own_speaking and self.t - self._prev_stress_frame > 8:
            self._prev_stress_frame = self.t
            if rng.random() < 0.35 * s.expressiveness:
                self._play(g.nod(rng.uniform(1.5, 4.0) * s.expressiveness, 0.35), "nod",
                           "emphasis")
            elif rng.random() < 0.15 * s.brow_prob * 2:
                self._play(g.brow_raise(rng.uniform(0.15, 0.35), 0.5), "brow", "emphasis")
        if x.own_question_end:
            self._play(g.brow_raise(rng.uniform(0.2, 0.4), 0.9), "brow", "question")
            self._play(g.head_tilt(rng.choice([-1.0, 1.0]) * rng.uniform(2, 5), 1.2), "tilt",
                       "question")

        # blinks and idle gaze shifts
        self._next_blink -= 1
        if self._next_blink <= 0:
            self._play(g.blink(rng.uniform(0.65, 0.9)), "blink", "idle")
            self._next_blink = self._blink_interval()
        self._next_gaze -= 1
        if self._next_gaze <= 0:
            if not self._other_speaking or rng.random() < 0.3:
                direction = str(rng.choice(["left", "right", "down", "up"]))
                self._play(g.gaze_shift(direction, rng.uniform(0.1, 0.35), rng.uniform(0.4, 1.2)),
                           "gaze", "idle")
            self._next_gaze = int(rng.uniform(3, 8) * FPS)

        # smile state: own intent, answered smiles (delayed), joined laughs
        target = max(x.own_smile_intent, min(0.8, delayed * 2.5 * s.smile_mirror),
                     self._laugh_boost)
        if target > 0.15 and self._smile <= 0.15 and x.own_smile_intent < target:
            self.events.append({"type": "smile", "t": round(self.t / FPS, 3),
                                "cause": "partner_smile"})
        self._smile += (0.15 if target > self._smile else 0.04) * (target - self._smile)
        self._laugh_boost *= 0.97

        # compose the frame
        frame = self.neutral.copy()
        speaking = self._own_speaking
        sigma = np.array([3.5, 2.0, 1.6] if speaking else [2.0, 1.2, 1.0]) * s.expressiveness
        frame[:3] += self._drift.step(sigma)
        # louder speech -> chin slightly down (emphasis), a prosody link, smoothed ~0.3 s
        loud = np.clip(x.own_energy_db + 30, 0, 20) * 0.08 if speaking else 0.0
        self._loud += 0.12 * (loud - self._loud)
        frame[column_index("pitch")] += self._loud
        frame += x.own_mouth * s.articulation
        if x.own_laugh > 0:  # the jaw pumps with the laugh's energy (own_mouth); add the face
            bob = 0.5 + 0.5 * np.sin(2 * np.pi * 4.5 * self.t / FPS)
            frame[column_index("pitch")] += (-5.0 + 1.5 * bob) * x.own_laugh * s.expressiveness
            for col in g.SMILE:
                frame[col] += 0.45 * x.own_laugh
            for col in g.CHEEK_SQUINT + g.EYE_SQUINT:
                frame[col] += 0.3 * x.own_laugh
        frame += self._gesture_sum()
        for col in g.SMILE:
            frame[col] += self._smile * 0.7
        for col in g.CHEEK_SQUINT:
            frame[col] += self._smile * 0.3
        for col in g.EYE_SQUINT:
            frame[col] += self._smile * 0.2
        for col in g.DIMPLE:
            frame[col] += self._smile * 0.1
        # head turning moves the face centre in the image (a rigid-head approximation)
        frame[_TX] += 0.004 * (frame[0] - self.neutral[0])
        frame[_TY] += 0.004 * (frame[1] - self.neutral[1])
        frame[_SCALE] *= 1.0 + 0.002 * rng.normal()
        frame[:3] += rng.normal(0, 0.15, 3)  # tracker-like jitter
        frame[_BLEND] += rng.normal(0, 0.004, MOTION_DIM - _BLEND.start)
        frame[_BLEND] = np.clip(frame[_BLEND], 0.0, 1.0)
        self.t += 1
        return frame.astype(np.float32)
