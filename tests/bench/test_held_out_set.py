"""The held-out real utterances (benchkit/voice/held_out_media.py) stay apart from the clips the
turn-end holds were tuned on: no recording, file or audio in both, so a figure reported
on them says how the detector does on speech it never saw."""

from __future__ import annotations

from benchkit import real_media
from benchkit.voice import barge_in_set
from benchkit.voice.held_out_media import HELD_OUT_LIST, HELD_OUT_SOURCES
from benchkit.voice.paused_utterances import RECORDING_LIST, SOURCES, source_of


def test_no_held_out_recording_is_in_the_tuning_set() -> None:
    tuned = {**real_media.MEDIA_SOURCES, **barge_in_set.RECORDINGS, **SOURCES}
    assert not set(HELD_OUT_SOURCES) & set(tuned)
    assert not {s.sha256 for s in HELD_OUT_SOURCES.values()} & {s.sha256 for s in tuned.values()}
    assert not {(s.package, s.member) for s in HELD_OUT_SOURCES.values()} & {
        (s.package, s.member) for s in tuned.values()}
    assert not set(HELD_OUT_LIST) & {name for name, _, _ in RECORDING_LIST}


def test_every_held_out_recording_is_pinned_speech_with_a_licence() -> None:
    assert len(HELD_OUT_LIST) == len(set(HELD_OUT_LIST)) == len(HELD_OUT_SOURCES)
    for name in HELD_OUT_LIST:
        source = source_of(name)
        assert source is HELD_OUT_SOURCES[name]
        assert source.kind == "speech" and source.licence and source.version
        assert len(source.sha256) == 64 and source.duration > 2.0
    # more than one package and more than one speaker's voice
    assert len({s.package for s in HELD_OUT_SOURCES.values()}) >= 4
