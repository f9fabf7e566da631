"""Synthetic corpus: real piper + espeak-ng speech, rules, on-disk layout, dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from avatar.audio_features import FEATURE_DIM, FPS, SAMPLES_PER_FRAME, compute_features
from avatar.corpus.dataset import DyadicDataset
from avatar.corpus.dialogue import render_dialogue
from avatar.corpus.rules import FrameInput, RuleEngine
from avatar.corpus.signals import VAD_ON_DB, frame_energy_db
from avatar.corpus.speaker_traits import default_style, persona_for
from avatar.corpus.speech import SpeechSynth, Utterance, Voice
from avatar.corpus.voices import SPLITS, voice_pool
from avatar.corpus.writer import DialogueSpec, generate, plan_corpus
from avatar.media_utils import read_wav
from avatar.metrics import audio_envelope, lip_sync
from avatar.motion import MOTION_DIM, MotionTrack, column_index

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

#: without piper's sampled noise, so the same dialogue is the same audio on every run
#: (tests/speech.py); the corpus's own voices keep theirs (avatar/corpus/voices.py)
PIPER = Voice(id="piper:joe", engine="piper", noise_scale=0.0, noise_w=0.0)
ESPEAK = Voice(id="espeak:en-gb+f3", engine="espeak", name="en-gb+f3", pitch=60, f0_hz=210)
ESPEAK2 = Voice(id="espeak:en-us+m3", engine="espeak", name="en-us+m3")


@pytest.fixture(scope="module")
def synth() -> SpeechSynth:
    return SpeechSynth()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, synth: SpeechSynth) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    specs = [
        DialogueSpec(0, "t_piper", "train", 11, (PIPER, ESPEAK), 25.0),
        DialogueSpec(1, "v_espeak", "val", 12, (ESPEAK2, ESPEAK), 12.0),
    ]
    results = list(generate(root, specs, synth))
    assert all(duration is not None for _, duration in results)
    return root


def _dir(root: Path, split: str, name: str) -> Path:
    return root / split / name


def test_layout_lengths_and_meta(corpus: Path) -> None:
    d = _dir(corpus, "train", "t_piper")
    meta = json.loads((d / "meta.json").read_text())
    frames = meta["frames"]
    for role in "ab":
        pcm = read_wav(d / f"audio_{role}.wav")
        track = MotionTrack.load(d / f"motion_{role}.npz")
        assert len(pcm) == frames * SAMPLES_PER_FRAME and len(track) == frames
        assert track.fps == FPS and track.data.shape[1] == MOTION_DIM
        assert len(meta["reference_motion"][role]) == MOTION_DIM
    assert meta["seed"] == 11 and meta["split"] == "train"
    assert meta["voices"]["a"]["id"] == "piper:joe"
    assert {s["speaker"] for s in meta["segments"]} == {"a", "b"}
    assert meta["turns"] and all(t["t1"] > t["t0"] for t in meta["turns"])
    # each speaker on their own channel: a's channel is quiet during b-only speech
    pcm_a = read_wav(d / "audio_a.wav")
    b_only = [s for s in meta["segments"] if s["speaker"] == "b" and all(
        o["t1"] < s["t0"] or o["t0"] > s["t1"] for o in meta["segments"] if o["speaker"] == "a")]
    s = b_only[0]
    quiet = pcm_a[int(s["t0"] * 16000): int(s["t1"] * 16000)]
    assert np.sqrt((quiet**2).mean()) < 0.003


def test_motion_in_real_face_ranges(corpus: Path) -> None:
    d = _dir(corpus, "train", "t_piper")
    meta = json.loads((d / "meta.json").read_text())
    blinks, seconds = 0, 0.0
    for role in "ab":
        track = MotionTrack.load(d / f"motion_{role}.npz")
        assert track.expression.min() >= 0.0 and track.expression.max() <= 1.0
        assert np.abs(track.pose[:, :3]).max() < 35.0  # degrees
        speaking = np.zeros(len(track), bool)
        for s in meta["segments"]:
            if s["speaker"] == role and s["kind"] == "speech":
                speaking[int(s["t0"] * FPS): int(s["t1"] * FPS)] = True
        jaw = track.column("jawOpen")
        assert 0.05 <= np.median(jaw[speaking]) <= 0.5
        assert np.median(jaw[~speaking]) < 0.05
        blink = track.column("eyeBlinkLeft")
        blinks += int(np.sum((blink[1:] > 0.5) & (blink[:-1] <= 0.5)))
        seconds += track.duration_s
    # one every ~3-5 s, pooled over both people: a single 26 s track drew 3 blinks
    # (a random process: about 11 % likely per track at a 4 s mean)
    assert 2.0 <= seconds / max(blinks, 1) <= 8.0


def test_piper_mouth_is_in_sync_with_audio(corpus: Path) -> None:
    d = _dir(corpus, "train", "t_piper")
    jaw = MotionTrack.load(d / "motion_a.npz").column("jawOpen")
    result = lip_sync(jaw, audio_envelope(read_wav(d / "audio_a.wav")))
    assert result.correlation > 0.5
    assert abs(result.lag_ms) <= 40.0


def test_listener_nods_follow_partner_pauses(corpus: Path) -> None:
    d = _dir(corpus, "train", "t_piper")
    meta = json.loads((d / "meta.json").read_text())
    energy = {r: frame_energy_db(read_wav(d / f"audio_{r}.wav")) for r in "ab"}
    nods = [(r, e["t"]) for r in "ab" for e in meta["events"][r]
            if e["type"] == "nod" and e["cause"] == "partner_pause"]
    assert nods, "no backchannel nod in a 25 s dialogue"
    for role, t in nods:
        partner = energy["b" if role == "a" else "a"]
        f = int(round(t * FPS))
        # the partner fell silent 200 ms (+ a 0-4 frame reaction delay) before the nod ...
        assert any((partner[f - k - 5: f - k] < VAD_ON_DB).all() for k in range(5))
        # ... after talking just before that
        assert (partner[max(0, f - 2 * FPS): f - 5] > VAD_ON_DB).sum() >= 5


def test_smiles_are_answered_after_a_human_delay() -> None:
    neutral, _ = persona_for("piper:joe")
    style = default_style()
    engine = RuleEngine(neutral, style, np.random.default_rng(0))
    partner = neutral.copy()
    smile_cols = [column_index("mouthSmileLeft"), column_index("mouthSmileRight")]
    own = []
    for t in range(5 * FPS):
        other = partner.copy()
        if t >= 2 * FPS:
            other[smile_cols] = 0.7  # the partner smiles at t = 2 s
        own.append(engine.step(FrameInput(np.zeros(MOTION_DIM, np.float32), -90.0, -90.0,
                                          other)))
    smile = np.array(own)[:, smile_cols].mean(axis=1)
    rest = smile[: 2 * FPS].mean()
    risen = np.nonzero(smile > rest + 0.1)[0]
    assert len(risen), "the listener never smiled back"
    delay_s = (risen[0] - 2 * FPS) / FPS
    assert style.smile_delay_s <= delay_s <= style.smile_delay_s + 0.8
    assert any(e["cause"] == "partner_smile" for e in engine.events)


def test_espeak_dialogue_is_deterministic(synth: SpeechSynth, corpus: Path) -> None:
    voices = {"a": ESPEAK2, "b": ESPEAK}
    again = render_dialogue("v_espeak", 12, voices, 12.0, synth)
    d = _dir(corpus, "val", "v_espeak")
    for role in "ab":
        assert np.array_equal(again.motion[role].data,
                              MotionTrack.load(d / f"motion_{role}.npz").data)


def test_generate_is_resumable(corpus: Path, synth: SpeechSynth) -> None:
    spec = DialogueSpec(0, "t_piper", "train", 11, (PIPER, ESPEAK), 25.0)
    assert [duration for _, duration in generate(corpus, [spec], synth)] == [None]


def test_plan_is_prefix_stable_and_splits_hold_out_voices() -> None:
    small, large = plan_corpus(3, 0.5), plan_corpus(3, 2.0)
    assert large[: len(small)] == small
    train_ids = {v.id for pool in voice_pool("train") for v in pool}
    for split in SPLITS[1:]:
        held_out = {v.id for pool in voice_pool(split) for v in pool}
        assert not held_out & train_ids
    seeds = {s.split: set() for s in large}
    for s in large:
        seeds[s.split].add(s.seed)
    assert not seeds["train"] & (seeds["val"] | seeds["test"])


def test_dataset_windows_roles_and_cache(corpus: Path) -> None:
    ds = DyadicDataset(corpus, "train", window_frames=50)
    ds.prepare(progress=False)
    frames = ds.dialogues[0].frames
    assert len(ds) == 2 * (frames // 50)
    item = ds[0]
    assert item["avatar_audio"].shape == (50, FEATURE_DIM)
    assert item["user_audio"].shape == (50, FEATURE_DIM)
    assert item["user_motion"].shape == item["avatar_motion"].shape == (50, MOTION_DIM)
    assert item["reference_motion"].shape == (MOTION_DIM,)
    assert item["avatar_speaking"].shape == (50,) and item["avatar_speaking"].dtype == bool
    d = _dir(corpus, "train", "t_piper")
    assert (d / "features_v1_a.npy").is_file()
    pcm = read_wav(d / "audio_a.wav")
    assert np.array_equal(ds.dialogue(0, "a")["avatar_audio"], compute_features(pcm))
    # the second half of the index swaps the roles
    swapped = ds[len(ds) // 2]
    assert np.array_equal(swapped["avatar_motion"], item["user_motion"])
    assert len(DyadicDataset(corpus, "train", window_frames=50, roles="a")) == len(ds) // 2
    with pytest.raises(IndexError):
        ds[len(ds)]
    with pytest.raises(FileNotFoundError):
        DyadicDataset(corpus, "nope")
    with pytest.raises(ValueError):
        DyadicDataset(corpus, "train", roles="c")


def test_baseline_is_causal_deterministic_and_reactive(corpus: Path) -> None:
    from avatar.baseline import RuleBaseline

    d = _dir(corpus, "train", "t_piper")
    meta = json.loads((d / "meta.json").read_text())
    avatar_pcm, user_pcm = read_wav(d / "audio_b.wav"), read_wav(d / "audio_a.wav")
    user_motion = MotionTrack.load(d / "motion_a.npz")
    baseline = RuleBaseline(np.asarray(meta["reference_motion"]["b"], np.float32), seed=3)
    first = baseline.run(avatar_pcm, user_pcm, user_motion)
    second = baseline.run(avatar_pcm, user_pcm, user_motion)
    assert np.array_equal(first.data, second.data)
    # causal: changing the future of the inputs leaves the past unchanged
    cut = 300
    late_user = user_pcm.copy()
    late_user[cut * SAMPLES_PER_FRAME:] = 0.0
    altered = baseline.run(avatar_pcm, late_user, user_motion)
    assert np.array_equal(altered.data[:cut], first.data[:cut])
    # it reacts: backchannel nods at the partner's pauses, mouth follows its own audio
    assert any(e["cause"] == "partner_pause" for e in baseline.events)
    sync = lip_sync(first.column("jawOpen"), audio_envelope(avatar_pcm))
    assert sync.correlation > 0.5 and abs(sync.lag_ms) <= 40.0


def test_baseline_uses_piper_phonemes(synth: SpeechSynth) -> None:
    from avatar.baseline import RuleBaseline

    utt = synth.say("Maybe Bob can bring the map home, please?", PIPER)
    pcm = utt.audio[: len(utt.audio) // SAMPLES_PER_FRAME * SAMPLES_PER_FRAME]
    silence = np.zeros_like(pcm)
    with_ph = RuleBaseline().run(pcm, silence, None, avatar_phonemes=utt.phonemes)
    jaw = with_ph.column("jawOpen")
    sync = lip_sync(jaw, audio_envelope(pcm), max_lag_ms=200)
    assert sync.correlation > 0.5 and abs(sync.lag_ms) <= 40.0
    closed = [column_index("mouthClose")]
    assert with_ph.data[:, closed].max() > 0.1  # bilabials close the lips (energy cannot)
    with pytest.raises(ValueError, match="640"):
        RuleBaseline().step(pcm[:100], pcm[:100], None)


def test_laughs_are_finite_rhythmic_bursts() -> None:
    from avatar.corpus.signals import frame_energy_db
    from avatar.corpus.speech import synth_laugh

    for seed in range(50):
        laugh = synth_laugh(np.random.default_rng(seed), 120.0, syllables=4)
        assert np.isfinite(laugh.audio).all() and np.abs(laugh.audio).max() <= 1.0
    energy = frame_energy_db(np.concatenate([laugh.audio, np.zeros(6400, np.float32)]))
    loud = energy > energy.max() - 12
    assert 3 <= np.sum(loud[1:] & ~loud[:-1]) + int(loud[0]) <= 6  # one burst per "ha"


def test_meta_phonemes_drive_the_baseline_like_the_corpus(corpus: Path) -> None:
    from avatar.baseline import RuleBaseline, corpus_phonemes

    d = _dir(corpus, "train", "t_piper")
    meta = json.loads((d / "meta.json").read_text())
    phonemes = corpus_phonemes(meta, "a")  # role a speaks with piper
    assert phonemes and all(t1 >= t0 for _, t0, t1 in phonemes)
    espeak = corpus_phonemes(meta, "b")  # espeak's timing comes from its library's events
    assert espeak and all(t1 >= t0 for _, t0, t1 in espeak)
    pcm_a, pcm_b = read_wav(d / "audio_a.wav"), read_wav(d / "audio_b.wav")
    gen = RuleBaseline().run(pcm_a, pcm_b, MotionTrack.load(d / "motion_b.npz"), phonemes)
    real = MotionTrack.load(d / "motion_a.npz")
    jaw = column_index("jawOpen")
    assert np.corrcoef(gen.data[:, jaw], real.data[:, jaw])[0, 1] > 0.9


def test_vad_ignores_a_noisy_room_but_hears_speech_over_it(synth: SpeechSynth) -> None:
    from avatar.corpus.signals import frame_energy_db, vad

    rng = np.random.default_rng(0)
    speech = synth.say("Could you say that again, please?", ESPEAK2).audio * 0.8
    noise = rng.normal(0, 10 ** (-35 / 20), 16000 * 6 + len(speech)).astype(np.float32)
    mix = noise.copy()
    mix[16000 * 5: 16000 * 5 + len(speech)] += speech
    flags = vad(frame_energy_db(mix))
    assert flags[: 5 * FPS].mean() < 0.05  # 5 s of room noise at -35 dBFS
    assert flags[5 * FPS: 5 * FPS + len(speech) // SAMPLES_PER_FRAME].mean() > 0.5


@pytest.mark.e2e
def test_corpus_cli_writes_a_loadable_split(tmp_path: Path) -> None:
    from pipelines.cli import main

    assert main(["corpus", "--out", str(tmp_path), "--hours", "0.01", "--seed", "7",
                 "--split", "train"]) == 0
    ds = DyadicDataset(tmp_path, "train")
    assert len(ds.dialogues) == 1 and len(ds) > 0
    assert main(["corpus", "--out", str(tmp_path), "--hours", "-1"]) == 1  # clear error


def test_espeak_speech_has_phoneme_timing_that_rounds_the_lips(synth: SpeechSynth) -> None:
    """espeak turns get visemes from the library's phoneme events (issue 35): rounded
    vowels round the lips as piper's do, spread ones do not, and the spans tile the audio."""
    from avatar.corpus.visemes import phoneme_mouth, resolve_phonemes

    rounded = synth.say("Who knew you would go to the zoo?", ESPEAK2)
    spread = synth.say("Please see if Steve can meet me.", ESPEAK2)
    for utterance in (rounded, spread):
        assert utterance.phonemes, "espeak gave no phoneme timing"
        starts = [t0 for _, t0, _ in utterance.phonemes]
        assert starts == sorted(starts)
        assert utterance.phonemes[-1][2] <= utterance.duration_s + 1e-3  # 22.05 -> 16 kHz
        assert utterance.phonemes[-1][2] > 0.8 * utterance.duration_s, "timing stops early"
    funnel, pucker = column_index("mouthFunnel"), column_index("mouthPucker")

    def rounding(utterance: Utterance) -> float:
        spans, _ = resolve_phonemes(utterance.phonemes)
        frames = int(utterance.duration_s * FPS) + 1
        mouth = phoneme_mouth(spans, frames)
        return float((mouth[:, funnel] + mouth[:, pucker]).mean())

    assert rounding(rounded) > 3 * rounding(spread), (rounding(rounded), rounding(spread))
    # and in a dialogue, an espeak speaker's mouth now comes from its phonemes
    dialogue = render_dialogue("v_rounding", 5, {"a": ESPEAK2, "b": ESPEAK}, 8.0, synth)
    assert dialogue.meta["timing"] == {"a": "phonemes", "b": "phonemes"}
    assert any(seg["phonemes"] for seg in dialogue.meta["segments"] if seg["kind"] == "speech")


def test_espeak_refuses_an_unknown_voice(synth: SpeechSynth) -> None:
    with pytest.raises(ValueError, match="no voice"):
        synth.say("Hello there.", Voice(id="espeak:nope", engine="espeak", name="xx-nope"))
