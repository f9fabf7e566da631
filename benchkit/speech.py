"""Repeatable test speech from the bundled piper voice.

Why in benchkit: the browser benches speak to the kiosk with the same repeatable
voice as the tests (tests/speech.py re-exports this module).

piper's VITS voice samples noise on every call: `noise_scale` (the generator's
latent noise) and `noise_w_scale` (the stochastic duration predictor), 0.667 and
0.8 in the joe voice's config. The same sentence therefore came out different
each time, and whisper tiny.en now and then heard different words in it ("park"
as "part"), so tests that check exact words flaked. With both scales at 0 the
sampled noise is multiplied by zero: the model is a pure function of the text,
and the same text gives the same samples in every call and every process
(tests/test_speech.py checks this). The voice stays natural enough for whisper
to hear; it is only a little flatter.

The thread count matters too: onnxruntime splits its sums over its intra-op
threads, and the joe voice gave different samples with 1, 2 and 4 threads (its
default is one a core, so a CI machine with more cores would hear other audio).
`load_test_voice` pins 2 threads, as `SpeechModels` (tts_threads=2) does for the
voice the pipelines tests speak with, so both give the same bytes.

Only the tests' own speech (the "user" side) is made this way: the product's TTS
(`SharedPiperTTSService`, `pipelines.offline.reply.synthesize`) keeps the voice's own
settings, and the avatar corpus keeps its per-voice variability.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from piper import PiperVoice

#: 16 kHz: what whisper, the VAD and the wire protocol take.
SPEECH_RATE = 16_000
#: onnxruntime intra-op threads of the test voice: fixed, so the samples do not
#: depend on the machine's core count (2 = `SpeechModels`' default tts_threads)
TEST_VOICE_THREADS = 2


@functools.cache
def load_test_voice() -> PiperVoice:
    """The bundled joe voice on `TEST_VOICE_THREADS` threads, loaded once per process."""
    import onnxruntime
    from piper import PiperVoice

    from agent.bundled_models import piper_voice

    paths = piper_voice()
    voice = PiperVoice.load(paths.model, config_path=paths.config)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = TEST_VOICE_THREADS
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    voice.session = onnxruntime.InferenceSession(
        str(paths.model), sess_options=options, providers=["CPUExecutionProvider"])
    return voice


def piper_int16(voice: PiperVoice, text: str) -> np.ndarray:
    """`text` spoken by `voice` without sampled noise: int16 mono at the voice's rate.

    Raises ValueError if piper makes no audio (empty or unspeakable text), which
    would otherwise surface as a confusing numpy error in the caller.
    """
    from piper import SynthesisConfig

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    chunks = [chunk.audio_int16_array.reshape(-1)
              for chunk in voice.synthesize(text, syn_config=config)]
    if not chunks:
        raise ValueError(f"piper produced no audio for {text!r}")
    return np.concatenate(chunks)


def piper_pcm16k(voice: PiperVoice, text: str, lead_s: float = 0.3) -> bytes:
    """`text` as a microphone would send it: 16 kHz PCM s16le after `lead_s` of silence.

    The lead-in gives the VAD some silence before the speech starts, as a user
    pressing talk and then speaking would.
    """
    import soxr

    audio = piper_int16(voice, text).astype(np.float32)
    audio16 = soxr.resample(audio, voice.config.sample_rate, SPEECH_RATE)
    lead = np.zeros(int(round(lead_s * SPEECH_RATE)), dtype=np.float32)
    return np.concatenate([lead, audio16]).clip(-32768, 32767).astype(np.int16).tobytes()
