"""Real faces on the corpus's user side (avatar/corpus/real_faces.py) and the
reactivity measures (avatar/reactivity.py).

The face pool here is built from tracks written to a temp dir with a smiling
person's pattern (rest face + smile episodes + head drift): the pool's job is
mechanical (segments, mirror, crossfades, offsets), tested on any tracks. The
dialogue test renders a real dialogue with piper and espeak-ng and the real rules.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.audio_features import FPS
from avatar.corpus.dialogue import REAL_FACE_SHARE, render_dialogue
from avatar.corpus.real_faces import ARTICULATION, RealFacePool, mirror, wear
from avatar.corpus.speech import SpeechSynth, Voice
from avatar.motion import MOTION_COLUMNS, MOTION_DIM, MotionTrack, column_index
from avatar.reactivity import (
    event_average,
    lagged_correlation,
    listening_session,
    measure,
    onsets,
    pause_events,
    smile,
    smile_pulse_response,
)
from avatar.reactivity_eval import rules_variant

SMILES = [column_index("mouthSmileLeft"), column_index("mouthSmileRight")]


def _smiling_person(frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    track = np.full((frames, MOTION_DIM), 0.05, np.float32)
    track[:, column_index("yaw")] = 8.0 + np.cumsum(rng.normal(0, 0.1, frames))
    for start in range(50, frames - 60, 150):
        track[start:start + 40, SMILES] += 0.6  # 1.6 s smiles every 6 s
    track[:, column_index("jawOpen")] = rng.uniform(0, 0.5, frames)  # talking
    return track


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> RealFacePool:
    folder = tmp_path_factory.mktemp("faces")
    for k in range(2):
        MotionTrack(_smiling_person(1200, k), fps=FPS).save(folder / f"person{k}.npz")
    return RealFacePool.from_dir(folder)


def test_mirror_swaps_sides_and_is_its_own_inverse() -> None:
    x = np.random.default_rng(0).normal(size=(10, MOTION_DIM)).astype(np.float32)
    m = mirror(x)
    np.testing.assert_array_equal(m[:, SMILES[0]], x[:, SMILES[1]])
    np.testing.assert_array_equal(m[:, column_index("yaw")], -x[:, column_index("yaw")])
    np.testing.assert_array_equal(m[:, column_index("pitch")], x[:, column_index("pitch")])
    np.testing.assert_array_equal(mirror(m), x)


def test_overlay_carries_smiles_and_head_but_never_the_mouth(pool: RealFacePool) -> None:
    overlay, used = pool.overlay(np.random.default_rng(1), 2000)
    assert overlay.shape == (2000, MOTION_DIM) and used
    mouth = [i for i, c in enumerate(MOTION_COLUMNS) if c in ARTICULATION]
    assert not overlay[:, mouth].any()  # jaw/lips stay the partner's own speech
    assert not overlay[:, [column_index(c) for c in ("tx", "ty", "scale")]].any()
    assert np.percentile(smile(overlay), 99) > 0.3  # real smiles come through
    assert overlay[:, column_index("yaw")].std() > 0.1
    worn = wear(np.full(MOTION_DIM, 0.9, np.float32)[None].repeat(2000, 0), overlay)
    assert worn[:, 6:].max() <= 1.0 and worn[:, 6:].min() >= 0.0


def test_pool_refuses_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no analysed face tracks"):
        RealFacePool.from_dir(tmp_path)


def test_a_real_partner_face_is_answered_by_the_avatar_rules(pool: RealFacePool) -> None:
    """With a pool, role b wears a real face in a seeded share of dialogues and
    role a's rules answer its smiles; without one the dialogue is unchanged."""
    synth = SpeechSynth()
    voices = {"a": Voice(id="espeak:en-us+m3", engine="espeak", name="en-us+m3"),
              "b": Voice(id="espeak:en-gb+f3", engine="espeak", name="en-gb+f3", pitch=60,
                         f0_hz=210)}
    worn = [s for s in range(12) if np.random.default_rng([s, 7]).random() < REAL_FACE_SHARE]
    seed = worn[0]
    plain = render_dialogue("rf", seed, voices, 25.0, synth)
    real = render_dialogue("rf", seed, voices, 25.0, synth, real_faces=pool)
    assert plain.meta["real_face"] is None and real.meta["real_face"] is not None
    np.testing.assert_array_equal(plain.audio["a"], real.audio["a"])  # same speech
    b_plain, b_real = plain.motion["b"].data, real.motion["b"].data
    jaw = column_index("jawOpen")
    # b's mouth still follows b's speech (b's sensor noise differs once a reacts)
    assert np.corrcoef(b_plain[:, jaw], b_real[:, jaw])[0, 1] > 0.9
    partner_smiles = [e for e in real.meta["events"]["a"] if e["cause"] == "partner_smile"]
    assert partner_smiles, "role a never answered the real face's smiles"
    # the answer follows the partner's smile: r peaks at a positive lag
    r = lagged_correlation(smile(b_real) - np.median(smile(b_real)),
                           smile(real.motion["a"].data), np.arange(0, 40))
    assert int(np.nanargmax(r)) >= 5


def test_lagged_correlation_and_event_average_find_a_known_delay() -> None:
    rng = np.random.default_rng(0)
    x = np.convolve(rng.normal(size=600), np.ones(10) / 10, mode="same")
    y = np.roll(x, 17) + rng.normal(0, 0.01, 600)
    r = lagged_correlation(x, y, np.arange(0, 40))
    assert int(np.argmax(r)) == 17 and r[17] > 0.95
    step = np.zeros(200)
    step[120:] = 1.0
    np.testing.assert_allclose(event_average(step, np.array([100]), 10, 40)[30:], 1.0)
    mask = np.zeros(100, bool)
    mask[10:40] = mask[45:50] = mask[80:90] = True
    assert onsets(mask, min_gap=20).tolist() == [10, 80]
    assert pause_events(mask).tolist() == [40]  # only the run of >= 1 s


def test_rule_listener_smiles_back_at_a_human_lag_and_not_without_the_face() -> None:
    """The reactivity measures on the rule baseline (a known reactive listener):
    smile_r is high at a human lag; a user with a still face gives none; the
    causal pulse probe sees the rules' answer."""
    rng = np.random.default_rng(3)
    face = _smiling_person(1500, 5)
    speech = np.zeros(1500 * 640, np.float32)
    for start in range(0, 1500 * 640, 4 * 16000):  # 2.5 s talk, 1.5 s pause
        speech[start:start + 40000] = rng.normal(0, 0.1, min(40000, len(speech) - start))
    ref = np.zeros(MOTION_DIM, np.float32)
    session = listening_session("smiler", face, speech, ref)
    m = measure(session, rules_variant(session))
    assert m["smile_r"] > 0.6 and 300 <= m["smile_lag_ms"] <= 1200
    assert m["nod_deg_after_pause"] > m["nod_deg_random"]
    still = listening_session("still", np.repeat(face[:1], 1500, 0), speech, ref)
    assert measure(still, rules_variant(still))["avatar_smile_p95"] < m["avatar_smile_p95"]
    response, stats = smile_pulse_response(rules_variant, session)
    assert stats["pulse_peak"] > 0.1 and stats["pulse_peak_ms"] > 300
    assert len(response) == 3 * FPS + FPS // 2


def test_head_restlessness_ignores_slow_drift_and_talking_stretches() -> None:
    from avatar.reactivity import quiet_frames, window_std

    t = np.arange(1000) / FPS
    drift = 5 * np.sin(2 * np.pi * t / 120)  # a slow 2-minute sway: not restlessness
    jitter = np.random.default_rng(0).normal(0, 1.0, 1000)
    assert window_std(drift) < 0.5 < 0.9 < window_std(drift + jitter) < 1.3
    face = np.zeros((1000, MOTION_DIM), np.float32)
    face[500:, column_index("jawOpen")] = np.abs(np.sin(np.arange(500) * 1.3)) * 0.4  # talks
    quiet = quiet_frames(face)
    assert quiet[:480].all() and not quiet[520:].any()
    assert np.isnan(window_std(jitter, np.zeros(1000, bool)))
