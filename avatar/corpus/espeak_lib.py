"""espeak-ng through its C library: the audio AND when each phoneme is spoken.

Why: the corpus's espeak voices (most of its speaking roles) used to come from the
`espeak-ng` command, which gives audio but no timing, so their mouths followed the
loudness alone and never rounded the lips: the generator learned that /u/ and /o/
are spoken with spread lips (docs/renderer.md). The library reports a
phoneme event (IPA, with its position in the audio) for every phoneme it speaks,
the timing piper gives for its own voice. No Python binding on PyPI exposes those
events, so this is a small ctypes binding of the four calls it needs
(`speak_lib.h`: espeak_Initialize, espeak_SetVoiceByName, espeak_SetParameter,
espeak_Synth); `libespeak-ng1` comes with the `espeak-ng` Debian package that
scripts/setup.sh installs.

The library carries state from one synthesis to the next (its pitch flutter runs
on), so the same sentence twice in one process differs by a few samples from its
second word on. The corpus must be the same on every run (its generation resumes,
tests compare dialogues), so `speak()` synthesises each utterance in a freshly
forked process, as the `espeak-ng` command did: a few ms of fork per utterance.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_PARAM_RATE = 1
_PARAM_PITCH = 3
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class EspeakSpeech:
    """One synthesis: int16 audio at `sample_rate` and (IPA, start sample) per phoneme."""

    audio: np.ndarray
    sample_rate: int
    phonemes: list[tuple[str, int]]


class EspeakLibrary:
    """The process's espeak-ng library (global state in C: one synthesis at a time)."""

    _lock = threading.Lock()
    _instance: EspeakLibrary | None = None

    def __init__(self) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self._lib = ctypes.CDLL(name)
        except OSError as error:
            raise FileNotFoundError(
                f"the espeak-ng library ({name}) is missing: apt-get install espeak-ng") from error
        self._lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint,
                                           ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                           ctypes.c_void_p, ctypes.c_void_p]
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetVoiceByProperties.argtypes = [ctypes.POINTER(_Voice)]
        self._lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_Voice)
        self.sample_rate = int(self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
            _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT))
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng could not initialise (its data folder is missing?)")
        self._pcm: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _Callback(self._on_synth)  # kept referenced while C holds it
        self._lib.espeak_SetSynthCallback(self._callback)

    @classmethod
    def get(cls) -> EspeakLibrary:
        """The one instance of this process (initialised on first use)."""
        with cls._lock:
            if cls._instance is None:
                cls._instance = EspeakLibrary()
            return cls._instance

    def _on_synth(self, wav: Any, count: int, events: Any) -> int:
        if count > 0:
            self._pcm.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self._events.append((event.id.string.decode("utf-8", "replace"), event.sample))
            i += 1
        return 0

    def _set_voice(self, voice: str) -> bool:
        """A voice by name, else by language ("en-gb+f3"), as the espeak-ng command does."""
        if self._lib.espeak_SetVoiceByName(voice.encode()) == 0:
            return True
        language, _, variant = voice.partition("+")
        wanted = _Voice(languages=language.encode())
        if self._lib.espeak_SetVoiceByProperties(ctypes.byref(wanted)) != 0:
            return False
        if not variant:
            return True
        # the language's voice found, then the variant on it by the voice's own name
        current = self._lib.espeak_GetCurrentVoice().contents
        named = f"{current.identifier.decode()}+{variant}".split("/")[-1]
        return bool(self._lib.espeak_SetVoiceByName(named.encode()) == 0)

    def synth(self, text: str, voice: str, speed: int, pitch: int) -> EspeakSpeech:
        """Speak `text` as the `espeak-ng -v voice -s speed -p pitch` command would.

        Raises:
            ValueError: empty text, or a voice espeak-ng does not know.
        """
        if not text.strip():
            raise ValueError("cannot synthesise empty text")
        encoded = text.encode("utf-8")
        with self._lock:
            if not self._set_voice(voice):
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, int(speed), 0)
            self._lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
            self._pcm, self._events = [], []
            self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0,
                                   _CHARS_UTF8 | _ENDPAUSE, None, None)
            self._lib.espeak_Synchronize()
            audio = np.concatenate(self._pcm) if self._pcm else np.zeros(0, np.int16)
            return EspeakSpeech(audio=audio, sample_rate=self.sample_rate,
                                phonemes=list(self._events))


def timed_symbols(speech: EspeakSpeech) -> list[tuple[str, float, float]]:
    """espeak's phoneme events as piper-style (symbol, t0, t1) spans in seconds.

    An event names one phoneme in IPA, perhaps with stress and length marks ("ˈuː",
    "oʊ"); it lasts until the next event. Each becomes its stress mark (a zero-length
    span, as piper gives it its own), then one span of its first sound, which is what
    decides the viseme (a diphthong's lips start at its first vowel: "oʊ" is rounded).
    Events without a sound (word and clause boundaries) are pauses.
    """
    rate = float(speech.sample_rate)
    end = len(speech.audio)
    spans: list[tuple[str, float, float]] = []
    events = speech.phonemes
    for k, (ipa, start) in enumerate(events):
        stop = events[k + 1][1] if k + 1 < len(events) else end
        if stop <= start:
            continue
        t0, t1 = start / rate, stop / rate
        sounds = [ch for ch in ipa if ch not in "ˈˌːˑ"]
        if "ˈ" in ipa or "ˌ" in ipa:
            spans.append(("ˈ", t0, t0))
        spans.append((sounds[0] if sounds else " ", t0, t1))
    return spans


#: one synthesis at a time, as the library's global state wants
_SPEAK_LOCK = threading.Lock()


def _close_inherited_descriptors(keep: int) -> None:
    """Close every descriptor a forked child inherited but stdio and `keep`.

    A child forked while another thread of the parent had a pipe open (a
    `subprocess` reading `ldconfig -p` for `ctypes.util.find_library`, say) holds
    that pipe's write end: the parent's read then never sees its end of file, and
    the two processes wait on each other for good. A fresh-clone CI run hung so in
    tests/avatar/test_corpus.py, when the pool this replaced forked its next worker
    from a background thread at any moment."""
    top = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536
    os.closerange(3, keep)
    os.closerange(keep + 1, max(keep + 1, int(top)))


def _synth_in_child(answer: Connection, text: str, voice: str, speed: int, pitch: int) -> None:
    """The forked child: one synthesis, its result (or its error) sent back."""
    _close_inherited_descriptors(answer.fileno())
    try:
        result: tuple[str, Any] = ("ok", EspeakLibrary.get().synth(text, voice, speed, pitch))
    except Exception as error:  # handed to the parent, which raises it
        result = ("error", error)
    answer.send(result)
    answer.close()


def speak(text: str, voice: str, speed: int, pitch: int) -> EspeakSpeech:
    """`EspeakLibrary.synth` in a process of its own, so the result depends only on
    the arguments (see the module docstring). The caller never loads the library.
    The child is forked here, in the caller's thread, and closes what it inherited
    (`_close_inherited_descriptors`).

    Raises:
        ValueError: empty text, or a voice espeak-ng does not know.
        FileNotFoundError: the espeak-ng library is not installed.
        RuntimeError: the child died without an answer.
    """
    context = multiprocessing.get_context("fork")  # the child needs only this module
    with _SPEAK_LOCK:
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(target=_synth_in_child, args=(sender, text, voice, speed, pitch),
                                daemon=True, name="espeak-synth")
        child.start()
        sender.close()
        try:
            kind, value = receiver.recv()
        except EOFError:
            child.join()
            raise RuntimeError(f"the espeak-ng synthesis process ended without an answer "
                               f"(exit code {child.exitcode})") from None
        finally:
            receiver.close()
        child.join()
    if kind == "error":
        raise value
    return value  # type: ignore[no-any-return]
