"""Real utterances with the speaker's own pauses inside, cut by a fixed rule (issue 9).

`premature_turn_ends` (bench/voice/turn_splits.py --real) is the share of paused human
utterances that the server cuts in two. Its first set had 10 clips, where 0.05
means no failure at all; this module adds every utterance of the recordings
below that the rule keeps. The rule was written down and committed before any
turn was measured on these clips, and it is applied as it is, so the set is
not chosen by its result.

THE RULE
  Recordings: every speech recording that bench/face/REAL_MEDIA.md lists as usable
  (none that it rules out), minus what the first 10 clips already use:
    - pyannote-audio 4.0.7 sdist: the 14 AMI meeting excerpts
      `tests/data/{dev00,dev01,tst00,tst01,trñ00,trn01..09}.wav` with the speaker
      turns shipped beside them (`tests/data/debug.{train,development,test}.rttm`),
      and the telephone sample `src/pyannote/audio/sample/sample.wav` with
      `sample.rttm`;
    - silero-vad 6.2.3 sdist: the lecture `tests/data/test.wav` from 27.0 s (the
      first 27 s are three of the first 10 clips);
    - pocketsphinx 5.1.1 sdist: `test/regression/chan3.wav` from 10.6 s (before:
      two of the first 10 clips), `test/data/{goforward,numbers,something}.raw`,
      `tidigits/dhd.2934z.raw`, `cards/00[1-5].wav`, `forever/input_{2,4}_16k.wav`,
      `vad/leak-test.wav` (the five LibriVox sentences are first-10 clips whole);
    - praat-parselmouth 0.4.7 sdist: `praat/dwtest/Example.ogg`,
      `praat/test/fon/examples/sounds/cl_F1_2b_egg.wav`,
      `tests/data/the_north_wind_and_the_sun.wav`.
  Speech: silero VAD (pipecat's model, the one the server runs, scored as the
    server scores it) over the whole 16 kHz recording in 32 ms windows; a window
    is speech at a score >= 0.5 (silero's own default threshold); runs of one or
    two speech windows (< 0.1 s) are dropped as clicks.
  Regions: where speaker turns ship (RTTM), the spans in which exactly one
    annotated speaker is talking (nobody else's turn overlaps them); otherwise
    the whole recording from the offset above.
  Utterances: inside a region, speech separated by less than 1.5 s of non-speech
    is one utterance; 1.5 s or more of non-speech, or the region's edge, ends it.
    An utterance whose speech spans more than 12 s is split at its longest gap,
    again and again, until no piece spans more than 12 s.
  Kept: every utterance whose speech spans >= 2.0 s and that has at least one
    internal gap of 0.3-1.5 s (a pause).
  Clip: 0.2 s before its first speech window to 0.2 s after its last, inside the
    region, 5 ms fades at both ends. (The bench adds 0.3 s of silence before
    and 6 s after, as for the first 10 clips.)

The rule keeps 21 utterances (15 AMI, 3 lecture, 1 meeting_chan3, the vlog end
of leak-test.wav, Praat's "Don't yell"); with the first 10, 31 clips. Each
utterance carries its recording, the package file, start and end in that
file, the speaker (from the RTTM), the end of its speech and its pauses (start
in the clip, length). bench/face/REAL_MEDIA.md lists them.

    paused_utterances(media_cache) -> [PausedUtterance]
    python bench/voice/paused_utterances.py [--transcribe]   # the list as JSON (the script)
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchkit import real_media
from benchkit.real_media import MediaSource
from benchkit.voice import barge_in_set
from benchkit.voice.held_out_media import HELD_OUT_LIST, HELD_OUT_SOURCES

ROOT = real_media.ROOT
SAMPLE_RATE = 16000
WINDOW = 512  # silero's window at 16 kHz: 32 ms
WINDOW_S = WINDOW / SAMPLE_RATE
SPEECH_SCORE = 0.5  # silero's default threshold
MIN_RUN_WINDOWS = 3  # shorter speech runs are clicks
CUT_S = 1.5  # non-speech this long ends an utterance
PAUSE_S = 0.3  # an internal gap this long is a pause
MAX_SPAN_S = 12.0  # longer utterances are split at their longest gap
MIN_SPAN_S = 2.0
PAD_S = 0.2
FADE = 80  # 5 ms

_PYAN = barge_in_set._PYAN
_PS = barge_in_set._PS
_PRAAT: real_media.Release = ("pypi", "praat-parselmouth", "0.4.7", "sdist")
_PS_LICENCE = barge_in_set._PS_LICENCE
_PRAAT_LICENCE = ("Praat test sound in the praat-parselmouth sdist (GPL-3.0); the speaker "
                  "is not named: local benches only")


def _ps(member: str, sha256: str, duration: float, content: str) -> MediaSource:
    return MediaSource("speech", *_PS, member, sha256, duration, _PS_LICENCE, content)


def _rttm(member: str, sha256: str) -> MediaSource:
    return MediaSource("annotation", *_PYAN, member, sha256, 0.0,
                       "pyannote.audio test data (MIT)", "speaker turns (RTTM)")


#: recordings and annotations that neither real_media nor barge_in_set has
EXTRA: dict[str, MediaSource] = {
    "ami_trn02": barge_in_set._ami(
        "trn02.wav", "2e4ce968332e68cac5ed74cd00f96b63ed6c034667583be34a32a7c2aa260803",
        "AMI meeting, almost silent"),
    "ami_trn03": barge_in_set._ami(
        "trn03.wav", "d12d132a6d4788f85efaa8e18563e575746e6a6fcc928e919c7c0e6a3e0238b2",
        "AMI meeting, one man talks from 1.1 s to the end"),
    "ami_trn06": barge_in_set._ami(
        "trn06.wav", "e70cbed4f13c7971fdf9d424b079d87a25ed1ce3928da0bccd18f143eb4ac359",
        "AMI meeting, mostly one woman"),
    "rttm_train": _rttm("tests/data/debug.train.rttm",
                        "972ee04414fc7644f26eabe1909d6a0f6a3fa57ab840719ec0112d26f3a957d5"),
    "rttm_development": _rttm("tests/data/debug.development.rttm",
                              "9667a672072f7d0ad5b647cfaed987d8c52209a4e1ddc252fed06d0b955e7aeb"),
    "rttm_test": _rttm("tests/data/debug.test.rttm",
                       "eae147d74d3f08002a5028183538eb35e6a7c7a77fe7d87c51eec95852d33161"),
    "rttm_sample": _rttm("src/pyannote/audio/sample/sample.rttm",
                         "d78fe62c69d8e6dcbb42c26adfce83faccb374c5a1e6d987fe37f85f1c173c87"),
    "ps_numbers": _ps("test/data/numbers.raw",
                      "45b5f6d3f88e36dd55b025cc9e8f1cae567583ea93f554ecdff6d09e6dd4577d", 4.02,
                      "numbers read aloud (16 kHz s16le, no header)"),
    "ps_tidigits_2934": _ps("test/data/tidigits/dhd.2934z.raw",
                            "60c14412ad1412b83f37061e29c9e76f74cce0f90637debb8087f10cd559e552",
                            2.4, "TIDIGITS digit string 'two nine three four zero' "
                                 "(16 kHz s16le, no header)"),
    "ps_cards_002": _ps("test/data/cards/002.wav",
                        "a3f9eae6fdb69a1231989e39a14d62388a6f52fb59666c76d95005318fadafec",
                        1.96, "a playing card read aloud"),
    "ps_cards_004": _ps("test/data/cards/004.wav",
                        "4c44a8177f5b128b99f078cdeb918119933155574231f1833e8840d1af09c521",
                        1.55, "a playing card read aloud"),
    "ps_cards_005": _ps("test/data/cards/005.wav",
                        "090f18f5f76cf8b2b43cd9e6b07823f4685a4742d9a36cd98b174a6586c18cf9",
                        3.5, "a playing card read aloud"),
    "ps_forever_2": _ps("test/data/forever/input_2_16k.wav",
                        "a67ddc6424abc306863a50aab4dcb37b31fa28e601dadc80e66751de39499402",
                        3.35, "'Feels like these days go on forever'"),
    "ps_forever_4": _ps("test/data/forever/input_4_16k.wav",
                        "16ee530ce7017b80962d9c6cad884ca4d044805a7169cc6c80f8f55c58ae093b",
                        5.76, "'Feels like these days go on forever', longer take"),
    "ps_leak_test": _ps("test/data/vad/leak-test.wav",
                        "0e415756dd194d0287ac7a949162bafb221e833591c7ba20c33d0eadd3cf7ce9",
                        9.38, "8 kHz, the end of a vlog: 'I hope you enjoyed this video'"),
    "praat_example": MediaSource(
        "speech", *_PRAAT, "praat/dwtest/Example.ogg",
        "379071af4fa77bc7dacf892ad81d3f92040a628367d34a451a2cdcc997ef27b0", 5.86,
        "Wikipedia's example sound (the package is GPL-3.0): local benches only",
        "'This is an example sound file in Ogg Vorbis format', 44.1 kHz stereo"),
    "praat_north_wind": MediaSource(
        "speech", *_PRAAT, "tests/data/the_north_wind_and_the_sun.wav",
        "a5452a671d34fa7d4967dd644f7db9623e779649fc9f0d31c0b5196fc0b0a1e8", 1.28,
        _PRAAT_LICENCE, "the start of 'The North Wind and the Sun', 44.1 kHz"),
}

SOURCES: dict[str, MediaSource] = {**barge_in_set.RECORDINGS, **EXTRA}

#: (recording, offset s, RTTM uri or None): the rule's recordings, in order
RECORDING_LIST: tuple[tuple[str, float, str | None], ...] = (
    ("ami_meeting", 0.0, "dev00"), ("ami_dev01", 0.0, "dev01"),
    ("ami_tst00", 0.0, "tst00"), ("ami_tst01", 0.0, "tst01"),
    ("ami_trn00", 0.0, "trn00"), ("ami_trn01", 0.0, "trn01"), ("ami_trn02", 0.0, "trn02"),
    ("ami_trn03", 0.0, "trn03"), ("ami_trn04", 0.0, "trn04"), ("ami_trn05", 0.0, "trn05"),
    ("ami_trn06", 0.0, "trn06"), ("ami_trn07", 0.0, "trn07"), ("ami_trn08", 0.0, "trn08"),
    ("ami_trn09", 0.0, "trn09"),
    ("phone_conversation", 0.0, "sample"),
    ("lecture", 27.0, None), ("meeting_chan3", 10.6, None),
    ("ps_goforward", 0.0, None), ("ps_numbers", 0.0, None), ("ps_something", 0.0, None),
    ("ps_tidigits_2934", 0.0, None),
    ("ps_cards_001", 0.0, None), ("ps_cards_002", 0.0, None), ("ps_cards_003", 0.0, None),
    ("ps_cards_004", 0.0, None), ("ps_cards_005", 0.0, None),
    ("ps_forever_2", 0.0, None), ("ps_forever_4", 0.0, None), ("ps_leak_test", 0.0, None),
    ("praat_example", 0.0, None), ("praat_dont_yell", 0.0, None), ("praat_north_wind", 0.0, None),
)
RTTM_FILES = ("rttm_train", "rttm_development", "rttm_test", "rttm_sample")


@dataclass(frozen=True)
class PausedUtterance:
    """One utterance the rule kept: where it is and where its pauses are."""

    name: str  # recording[start:end]
    recording: str
    start: float  # s in the 16 kHz recording
    end: float
    speaker: str  # from the RTTM; "" for a one-speaker recording
    speech_end: float  # s from the clip's start: the end of its last speech window
    pauses: tuple[tuple[float, float], ...]  # (start in the clip, length) s, 0.3-1.5 s each

    def audio(self, media_cache: Path = real_media.DEFAULT_CACHE) -> np.ndarray:
        """The clip as 16 kHz int16, with 5 ms fades."""
        full = recording_audio(self.recording, media_cache)
        clip = full[int(round(self.start * SAMPLE_RATE)):int(round(self.end * SAMPLE_RATE))]
        clip = clip.astype(np.float32).copy()
        ramp = np.linspace(0.0, 1.0, FADE, dtype=np.float32)
        clip[:FADE] *= ramp
        clip[-FADE:] *= ramp[::-1]
        return clip.round().astype(np.int16)


def source_of(name: str) -> MediaSource:
    return real_media.MEDIA_SOURCES.get(name) or SOURCES.get(name) or HELD_OUT_SOURCES[name]


def recording_audio(name: str, media_cache: Path = real_media.DEFAULT_CACHE) -> np.ndarray:
    """A recording as 16 kHz mono int16 (converted once by real_media)."""
    sources = {name: source_of(name)}
    with wave.open(str(real_media.wav16k(name, media_cache, sources)), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def speaker_turns(media_cache: Path = real_media.DEFAULT_CACHE
                  ) -> dict[str, list[tuple[float, float, str]]]:
    """{uri: [(start, end, speaker)]} from the RTTM files shipped with pyannote.audio."""
    turns: dict[str, list[tuple[float, float, str]]] = {}
    for path in real_media.fetch_media(media_cache, RTTM_FILES, SOURCES).values():
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) >= 8 and fields[0] == "SPEAKER":
                start, length = float(fields[3]), float(fields[4])
                turns.setdefault(fields[1], []).append((start, start + length, fields[7]))
    return turns


def one_speaker_regions(turns: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The stretches in which one annotated speaker talks and nobody else does.

    A silence between two turns of the same speaker belongs to the stretch (the
    utterance rule decides whether it ends an utterance); any other speaker's
    turn ends it.
    """
    edges = sorted({t for start, end, _ in turns for t in (start, end)})
    regions: list[tuple[float, float, str]] = []
    quiet_since: float | None = None  # a span with nobody talking follows the last region
    for a, b in zip(edges, edges[1:], strict=False):
        talking = {speaker for start, end, speaker in turns if start < (a + b) / 2 < end}
        if not talking:
            quiet_since = a if quiet_since is None else quiet_since
            continue
        speaker = talking.pop() if len(talking) == 1 else None
        joins = (regions and speaker is not None and regions[-1][2] == speaker
                 and abs(regions[-1][1] - (a if quiet_since is None else quiet_since)) < 1e-9)
        if joins and speaker is not None:  # (joins implies a speaker; said for mypy)
            regions[-1] = (regions[-1][0], b, speaker)
        elif speaker is not None:
            regions.append((a, b, speaker))
        else:
            regions.append((a, b, ""))  # overlap: a boundary no region crosses
        quiet_since = None
    return [r for r in regions if r[2]]


def speech_scores(audio: np.ndarray) -> np.ndarray:
    """silero's score of every 32 ms window of a 16 kHz int16 recording, in order."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    vad = SileroVADAnalyzer(sample_rate=SAMPLE_RATE)
    vad.set_sample_rate(SAMPLE_RATE)
    n = len(audio) // WINDOW
    return np.array([np.asarray(vad.voice_confidence(audio[i * WINDOW:(i + 1) * WINDOW].tobytes())).item()
                     for i in range(n)])


def speech_runs(speech: np.ndarray) -> list[tuple[int, int]]:
    """[(first window, last window + 1)] of speech, runs shorter than MIN_RUN_WINDOWS dropped."""
    padded = np.concatenate([[False], speech, [False]]).astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(change[::2], change[1::2], strict=True)
            if b - a >= MIN_RUN_WINDOWS]


def _split_long(runs: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    if (runs[-1][1] - runs[0][0]) * WINDOW_S <= MAX_SPAN_S or len(runs) < 2:
        return [runs]
    gaps = [runs[i + 1][0] - runs[i][1] for i in range(len(runs) - 1)]
    cut = int(np.argmax(gaps)) + 1  # the first of equally long gaps
    return _split_long(runs[:cut]) + _split_long(runs[cut:])


def utterances_in(scores: np.ndarray, start: float, end: float
                  ) -> list[tuple[float, float, list[tuple[float, float]]]]:
    """The rule's utterances in [start, end) s: (speech start, speech end, [(gap at, length)])."""
    first, last = int(np.ceil(start / WINDOW_S)), min(len(scores), int(end / WINDOW_S))
    if last <= first:
        return []
    runs = [(a + first, b + first) for a, b in speech_runs(scores[first:last] >= SPEECH_SCORE)]
    groups: list[list[tuple[int, int]]] = []
    for run in runs:
        if groups and (run[0] - groups[-1][-1][1]) * WINDOW_S < CUT_S:
            groups[-1].append(run)
        else:
            groups.append([run])
    out = []
    for group in groups:
        for piece in _split_long(group):
            gaps = [(piece[i][1] * WINDOW_S, (piece[i + 1][0] - piece[i][1]) * WINDOW_S)
                    for i in range(len(piece) - 1)]
            out.append((piece[0][0] * WINDOW_S, piece[-1][1] * WINDOW_S, gaps))
    return out


def paused_utterances(media_cache: Path = real_media.DEFAULT_CACHE) -> list[PausedUtterance]:
    """Every utterance THE RULE keeps (module doc), in RECORDING_LIST order."""
    return _kept(RECORDING_LIST, speaker_turns(media_cache), media_cache)


def held_out_utterances(media_cache: Path = real_media.DEFAULT_CACHE) -> list[PausedUtterance]:
    """Every utterance THE RULE keeps in the held-out recordings (benchkit/voice/held_out_media.py):
    reported, never tuned on."""
    return _kept(tuple((name, 0.0, None) for name in HELD_OUT_LIST), {}, media_cache)


def _kept(recordings: tuple[tuple[str, float, str | None], ...],
          turns: dict[str, list[tuple[float, float, str]]],
          media_cache: Path) -> list[PausedUtterance]:
    kept = []
    for name, offset, uri in recordings:
        audio = recording_audio(name, media_cache)
        duration = len(audio) / SAMPLE_RATE
        scores = speech_scores(audio)
        regions = (one_speaker_regions(turns[uri]) if uri is not None
                   else [(offset, duration, "")])
        for region_start, region_end, speaker in regions:
            region_start = max(region_start, offset)
            for speech_start, speech_end, gaps in utterances_in(scores, region_start, region_end):
                pauses = [(at, length) for at, length in gaps if PAUSE_S <= length < CUT_S]
                if speech_end - speech_start < MIN_SPAN_S or not pauses:
                    continue
                start = round(max(region_start, speech_start - PAD_S), 3)
                end = round(min(region_end, duration, speech_end + PAD_S), 3)
                kept.append(PausedUtterance(
                    f"{name}[{start:g}:{end:g}]", name, start, end, speaker,
                    round(speech_end - start, 3),
                    tuple((round(at - start, 3), round(length, 3)) for at, length in pauses)))
    return kept
