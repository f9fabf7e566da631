"""Causal audio features: streamed == offline, causality, format errors, real speech."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from avatar import audio_features as af


def _espeak_16k(text: str, voice: str = "en-us+f3") -> np.ndarray:
    """Real speech from the Debian espeak-ng, resampled to 16 kHz float32."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian package espeak-ng)")
    import io
    import wave

    raw = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    ).stdout
    with wave.open(io.BytesIO(raw)) as wav:
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        return af.to_16k(pcm, wav.getframerate())


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    pcm = _espeak_16k("Hello there. How are you doing today? I think it might rain.")
    silence = np.zeros(8000, dtype=np.float32)
    return np.concatenate([silence, pcm, silence])


def test_contract_constants() -> None:
    assert af.SAMPLE_RATE == 16000 and af.FPS == 25 and af.SAMPLES_PER_FRAME == 640
    assert af.FEATURE_DIM == 84


def test_offline_shape_ignores_partial_frame(speech: np.ndarray) -> None:
    feats = af.compute_features(speech[: 640 * 10 + 300])
    assert feats.shape == (10, af.FEATURE_DIM) and feats.dtype == np.float32
    assert af.compute_features(np.zeros(639, np.float32)).shape == (0, af.FEATURE_DIM)


@pytest.mark.parametrize("chunk", [1, 160, 333, 640, 1000, 4096])
def test_streamed_equals_offline_bit_exact(speech: np.ndarray, chunk: int) -> None:
    offline = af.compute_features(speech)
    streamer = af.CausalAudioFeaturizer()
    parts = [streamer.push(speech[i : i + chunk]) for i in range(0, len(speech), chunk)]
    streamed = np.concatenate(parts)
    assert streamed.shape == offline.shape
    assert np.array_equal(streamed, offline)


def test_random_chunking_and_reset(speech: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    offline = af.compute_features(speech)
    streamer = af.CausalAudioFeaturizer()
    streamer.push(speech[:5000])  # a stale stream, then reset
    streamer.reset()
    cuts = np.sort(rng.integers(0, len(speech), 40))
    parts = [streamer.push(p) for p in np.split(speech, cuts)]
    assert np.array_equal(np.concatenate(parts), offline)
    assert streamer.frames_emitted == len(offline)


def test_causal_future_does_not_change_past(speech: np.ndarray) -> None:
    n = 640 * 40
    base = af.compute_features(speech[:n])
    altered = speech.copy()
    altered[n:] = np.random.default_rng(1).uniform(-1, 1, len(speech) - n).astype(np.float32)
    assert np.array_equal(af.compute_features(altered)[:40], base)


def test_energy_tracks_speech_and_normalisation(speech: np.ndarray) -> None:
    feats = af.compute_features(speech)
    energy = feats[:, 80:].mean(axis=1)
    silent = energy[:10].mean()  # first 0.4 s are digital silence
    voiced = np.percentile(energy, 75)
    assert voiced > silent + 1.0
    # fixed constants keep real speech roughly standardised (not exact: no per-clip stats)
    assert abs(float(feats[:, :40].mean())) < 1.0
    assert 0.3 < float(feats[:, :40].std()) < 2.5
    assert np.isfinite(feats).all()


def test_bad_input_raises_clear_errors() -> None:
    with pytest.raises(ValueError, match="float32"):
        af.compute_features(np.zeros(1000, dtype=np.int16))
    with pytest.raises(ValueError, match="mono"):
        af.CausalAudioFeaturizer().push(np.zeros((1000, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="numpy"):
        af.compute_features([0.0] * 1000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample rate"):
        af.to_16k(np.zeros(10, np.float32), 0)


def test_to_16k_resamples_int16_stereo() -> None:
    t = np.arange(22050) / 22050
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    out = af.to_16k(np.stack([tone, tone], axis=1), 22050)
    assert out.dtype == np.float32 and abs(len(out) - 16000) <= 2
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16000 / len(out) - 440) < 3


def test_mel_sums_are_the_numpy_band_loop_bit_for_bit(speech: np.ndarray) -> None:
    """The compiled mel-band sums add in numpy's order: the features the generator
    reads (and so its motion) are the per-band numpy loop's, bit for bit, on speech,
    on silence, on spectra spanning many decades, and on single sub-frames."""
    rng = np.random.default_rng(7)
    windows = np.lib.stride_tricks.sliding_window_view(
        speech[:16000].astype(np.float64), af.WIN)[::af.HOP]
    spectra = [np.fft.rfft(windows * af._WINDOW, n=af.N_FFT, axis=1),
               np.zeros((3, af.N_FFT // 2 + 1)),
               rng.standard_normal((50, af.N_FFT // 2 + 1)) * 10.0 ** rng.uniform(-12, 6, (50, 1)),
               rng.standard_normal((1, af.N_FFT // 2 + 1))]
    for spec in spectra:
        power = np.ascontiguousarray(np.abs(spec) ** 2)
        ours = np.empty((len(power), af.N_MELS))
        af._mel_sums(power, af._MEL_FIRST, af._MEL_WIDTH, af._MEL_OFFSET, af._MEL_WEIGHTS, ours)
        loop = np.empty_like(ours)
        for m, (first, stop, weights) in enumerate(af._MEL_BANDS):
            loop[:, m] = (power[:, first:stop] * weights).sum(axis=1)
        np.testing.assert_array_equal(ours, loop)
    assert af._MEL_WIDTH.min() < 8 <= af._MEL_WIDTH.max() <= 128  # both branches ran


def test_compile_now_compiles_the_mel_sums_the_features_call() -> None:
    """`compile_now` (which raster.compile_now calls: a face worker's prime, the server's
    assets, `make setup`) compiles the mel sums with the types the features pass: a
    reply's first block then compiles nothing."""
    af.compile_now()
    compiled = len(af._mel_sums.signatures)
    assert compiled >= 1
    af.CausalAudioFeaturizer().push(np.zeros(3 * af.SAMPLES_PER_FRAME, np.float32))
    assert len(af._mel_sums.signatures) == compiled
