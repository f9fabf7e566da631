"""When the clock shows a reply frame from its hand-over block's mouths instead of
drawing it (pipelines/face/late_mouths.py `shows_a_mouth`): only a voiced frame short
of time where the reply lead sends frames ahead, never one repeated by choice or
encoded where it is drawn."""

from __future__ import annotations

from pipelines.face.late_mouths import MOUTH_MARGIN_SECS, shows_a_mouth


def _shows(**changed: object) -> bool:
    case: dict[str, object] = {"speaking": True, "chosen": False, "encoded": False,
                               "lead_secs": 0.12, "margin_secs": MOUTH_MARGIN_SECS / 2}
    case.update(changed)
    return shows_a_mouth(**case)  # type: ignore[arg-type]


def test_a_voiced_frame_short_of_time_under_the_reply_lead_shows_a_mouth() -> None:
    assert _shows()
    assert _shows(margin_secs=-0.3)  # behind its time: a mouth, not a repeat


def test_a_frame_with_time_or_off_the_lead_is_drawn_as_before() -> None:
    assert not _shows(margin_secs=MOUTH_MARGIN_SECS)  # time for its drawing
    assert not _shows(lead_secs=0.0)  # on its slot (pipecat's transports, a paused reply)
    assert not _shows(chosen=True)  # repeated by choice (the level's stride)
    assert not _shows(encoded=True)  # our WebRTC tracks: drawn into the VP8 stream
    assert not _shows(speaking=False)
