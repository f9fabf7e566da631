"""Render one synthetic dialogue: timeline, both audio channels, both motion tracks.

Why this order: speech is synthesised first (its durations fix the timeline),
then turn-taking places it (gaps, overlaps, backchannels at pauses, laughs after
jokes), and only then do the two RuleEngines run side by side, frame by frame,
each seeing the other's audio up to now and the other's motion up to the
previous frame: reactions in the data are causal, as they must be live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avatar.audio_features import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from avatar.corpus.real_faces import RealFacePool, wear
from avatar.corpus.rules import FrameInput, RuleEngine
from avatar.corpus.script import BACKCHANNELS, plan_turns
from avatar.corpus.signals import frame_energy_db
from avatar.corpus.speaker_traits import persona_for
from avatar.corpus.speech import SpeechSynth, Utterance, Voice, synth_laugh
from avatar.corpus.visemes import energy_mouth, phoneme_mouth, resolve_phonemes
from avatar.motion import MOTION_DIM, MotionTrack

GENERATOR_VERSION = 3  # 2: resting faces with real-face squint/press/gaze values;
# 3: espeak turns get visemes from espeak's phoneme events (rounded lips), not loudness


@dataclass
class Segment:
    """One placed utterance on the shared timeline (seconds)."""

    speaker: str
    kind: str
    text: str
    t0: float
    utterance: Utterance
    turn: int

    @property
    def t1(self) -> float:
        return self.t0 + self.utterance.duration_s


@dataclass
class Dialogue:
    """Everything the writer stores for one dialogue."""

    audio: dict[str, np.ndarray]  # role -> float32 16 kHz, len == frames * 640
    motion: dict[str, MotionTrack]
    meta: dict[str, object] = field(default_factory=dict)


def _gap(rng: np.random.Generator) -> float:
    """Turn-transition gap: mostly ~200-400 ms, sometimes an overlap, sometimes a pause."""
    r = rng.random()
    if r < 0.15:
        return -float(rng.uniform(0.1, 0.6))  # overlap: the next speaker starts early
    if r < 0.85:
        return float(np.clip(rng.lognormal(np.log(0.3), 0.5), 0.05, 1.0))
    return float(rng.uniform(0.8, 2.0))


def _place_turns(rng: np.random.Generator, synth: SpeechSynth, voices: dict[str, Voice],
                 target_s: float, laugh_prob: dict[str, float],
                 ) -> tuple[list[Segment], list[dict[str, Any]]]:
    segments: list[Segment] = []
    turns_meta: list[dict[str, Any]] = []
    t = float(rng.uniform(0.5, 1.2))
    turn_index = 0
    while t < target_s:
        for turn in plan_turns(rng, 8):
            if t >= target_s:
                break
            me, other = turn.speaker, "b" if turn.speaker == "a" else "a"
            t0 = t
            for k, sentence in enumerate(turn.sentences):
                utt = synth.say(sentence, voices[me])
                segments.append(Segment(me, "speech", sentence, t, utt, turn_index))
                t += utt.duration_s
                if k < len(turn.sentences) - 1:  # within-turn pause, maybe a backchannel
                    pause = float(rng.uniform(0.25, 0.7))
                    if rng.random() < 0.35:
                        word = str(BACKCHANNELS[int(rng.integers(len(BACKCHANNELS)))])
                        bc = synth.say(word, voices[other], kind="backchannel")
                        bc_t = t + float(rng.uniform(0.05, 0.25))
                        segments.append(Segment(other, "backchannel", word, bc_t, bc, turn_index))
                        pause = max(pause, bc_t + bc.duration_s - t + float(rng.uniform(0, 0.2)))
                    t += pause
            end = t
            if turn.laugh_after:
                laugh = synth_laugh(rng, voices[me].f0_hz)
                lt = end + float(rng.uniform(0.0, 0.2))
                segments.append(Segment(me, "laugh", "<laugh>", lt, laugh, turn_index))
                end = lt + laugh.duration_s
                if rng.random() < laugh_prob[other]:
                    joined = synth_laugh(rng, voices[other].f0_hz)
                    jt = lt + float(rng.uniform(0.2, 0.5))
                    segments.append(Segment(other, "laugh", "<laugh>", jt, joined, turn_index))
                    end = max(end, jt + joined.duration_s)
            turns_meta.append({"index": turn_index, "speaker": me, "kind": turn.kind,
                               "text": " ".join(turn.sentences), "t0": round(t0, 3),
                               "t1": round(end, 3), "smile": round(turn.smile, 3)})
            turn_index += 1
            t = max(t0 + 0.5, end + _gap(rng))
    return segments, turns_meta


REAL_FACE_SHARE = 0.6  # share of dialogues whose partner wears a real face (with a pool)


def render_dialogue(dialogue_id: str, seed: int, voices: dict[str, Voice], target_s: float,
                    synth: SpeechSynth, real_faces: RealFacePool | None = None) -> Dialogue:
    """Synthesise and animate a ~`target_s` second dialogue between voices a and b.

    With `real_faces`, a seeded share of dialogues gives role b a real face
    (avatar/corpus/real_faces.py) that role a's rules react to; its own random
    stream leaves every other draw of the dialogue as it was."""
    if set(voices) != {"a", "b"}:
        raise ValueError(f"voices must have roles 'a' and 'b', got {sorted(voices)}")
    rng = np.random.default_rng(seed)
    personas = {role: persona_for(v.id) for role, v in voices.items()}
    segments, turns_meta = _place_turns(
        rng, synth, voices, target_s, {r: p[1].laugh_prob for r, p in personas.items()})
    duration = max(s.t1 for s in segments) + float(rng.uniform(0.8, 1.5))
    n_frames = int(duration * FPS)
    n_samples = n_frames * SAMPLES_PER_FRAME

    clean = {r: np.zeros(n_samples, np.float32) for r in "ab"}
    mouth = {r: np.zeros((n_frames, MOTION_DIM), np.float32) for r in "ab"}
    energy_driven = {r: np.zeros(n_frames, bool) for r in "ab"}
    stress = {r: np.zeros(n_frames, bool) for r in "ab"}
    smile = {r: np.zeros(n_frames, np.float32) for r in "ab"}
    laugh = {r: np.zeros(n_frames, np.float32) for r in "ab"}
    question_end = {r: np.zeros(n_frames, bool) for r in "ab"}
    gain = {r: float(rng.uniform(0.35, 0.8)) for r in "ab"}
    for seg in segments:
        r, seg_audio = seg.speaker, seg.utterance.audio * gain[seg.speaker]
        start = int(seg.t0 * SAMPLE_RATE)
        end = min(n_samples, start + len(seg_audio))
        clean[r][start:end] += seg_audio[: end - start]
        f0, f1 = int(seg.t0 * FPS), min(n_frames, int(np.ceil(seg.t1 * FPS)))
        if seg.utterance.phonemes:
            spans, stresses = resolve_phonemes(seg.utterance.phonemes)
            mouth[r] += phoneme_mouth(spans, n_frames, offset_s=seg.t0)
            for ts in stresses:
                stress[r][min(n_frames - 1, int((seg.t0 + ts) * FPS))] = True
        else:
            energy_driven[r][f0:f1] = True
        if seg.kind == "laugh":
            laugh[r][f0:f1] = float(rng.uniform(0.6, 1.0))
    for turn in turns_meta:
        r = str(turn["speaker"])
        f0, f1 = int(float(turn["t0"]) * FPS), min(n_frames, int(float(turn["t1"]) * FPS))
        if float(turn["smile"]) > 0:  # smile builds over the last ~3 s, lingers ~1.5 s after
            f0 = max(f0, f1 - int(rng.uniform(2.0, 4.0) * FPS))
            ramp = np.linspace(0.3, 1.0, max(1, f1 - f0)) * float(turn["smile"])
            smile[r][f0:f1] = np.maximum(smile[r][f0:f1], ramp)
            tail = slice(f1, min(n_frames, f1 + int(1.5 * FPS)))
            smile[r][tail] = np.maximum(smile[r][tail], float(turn["smile"]))
        if turn["kind"] == "question":
            question_end[r][max(0, f1 - 3)] = True

    audio: dict[str, np.ndarray] = {}
    energy: dict[str, np.ndarray] = {}
    for r in "ab":
        clean_energy = frame_energy_db(clean[r])
        em = energy_mouth(clean_energy)
        mouth[r][energy_driven[r]] = em[energy_driven[r]]
        if not stress[r].any():  # espeak: energy rises stand in for stressed syllables
            rise = np.diff(clean_energy, prepend=clean_energy[:1]) > 8.0
            stress[r] |= rise & (clean_energy > -35)
        noise_db = float(rng.uniform(-68, -52))
        noise = rng.normal(0, 10 ** (noise_db / 20), n_samples).astype(np.float32)
        audio[r] = np.clip(clean[r] + noise, -1.0, 1.0)
        energy[r] = frame_energy_db(audio[r])

    face_rng = np.random.default_rng([seed, 7])
    overlay: np.ndarray | None = None
    face_tracks: list[str] = []
    if real_faces is not None and face_rng.random() < REAL_FACE_SHARE:
        overlay, face_tracks = real_faces.overlay(face_rng, n_frames)
    engines = {r: RuleEngine(personas[r][0], personas[r][1],
                             np.random.default_rng([seed, ord(r)]), name=r) for r in "ab"}
    motion = {r: np.zeros((n_frames, MOTION_DIM), np.float32) for r in "ab"}
    for t in range(n_frames):
        for r, o in (("a", "b"), ("b", "a")):
            motion[r][t] = engines[r].step(FrameInput(
                own_mouth=mouth[r][t], own_energy_db=float(energy[r][t]),
                other_energy_db=float(energy[o][t]),
                other_motion=motion[o][t - 1] if t > 0 else None,
                own_stress=bool(stress[r][t]), own_smile_intent=float(smile[r][t]),
                own_laugh=float(laugh[r][t]), own_question_end=bool(question_end[r][t]),
            ))
            if r == "b" and overlay is not None:  # a sees this face from the next frame
                motion[r][t] = wear(motion[r][t], overlay[t])

    meta: dict[str, object] = {
        "dialogue_id": dialogue_id, "seed": seed, "generator_version": GENERATOR_VERSION,
        "fps": FPS, "sample_rate": SAMPLE_RATE, "frames": n_frames,
        "duration_s": round(n_frames / FPS, 3),
        "voices": {r: v.to_dict() for r, v in voices.items()},
        "reference_motion": {r: personas[r][0].round(5).tolist() for r in "ab"},
        "style": {r: personas[r][1].to_dict() for r in "ab"},
        "turns": turns_meta,
        # phonemes: piper alignments (symbol, t0, t1) in seconds from the dialogue
        # start, so a baseline/evaluation can use the exact timing the corpus used
        "segments": [{"speaker": s.speaker, "kind": s.kind, "text": s.text,
                      "t0": round(s.t0, 3), "t1": round(s.t1, 3), "turn": s.turn,
                      "phonemes": [[ph, round(s.t0 + a, 4), round(s.t0 + b, 4)]
                                   for ph, a, b in s.utterance.phonemes]}
                     for s in segments],
        "events": {r: engines[r].events for r in "ab"},
        "timing": {r: "phonemes" for r in "ab"},
        "real_face": {"role": "b", "tracks": face_tracks} if overlay is not None else None,
    }
    return Dialogue(audio=audio, motion={r: MotionTrack(motion[r], fps=FPS) for r in "ab"},
                    meta=meta)
