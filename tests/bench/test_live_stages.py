"""bench/live/live.py's per-turn stages: the server's marks through a file, joined to the
client's instants, whisper's last read found, medians per arm."""

from __future__ import annotations

import time
from pathlib import Path

from benchkit.live.live_stages import (
    MarkWriter,
    face_path,
    join_stages,
    read_marks,
    stage_medians,
    turn_stages,
)

END = 100.0  # the question's end on the monotonic clock (s)


def _marks(shift: float = 0.0) -> list[tuple[float, str]]:
    """A turn: a speculative read on a pause, the final read, the reply's way out."""
    return [(END - 1.0, "asr_start"), (END - 0.6, "asr_done"),  # read on the pause
            (END + 0.25, "vad_stop"), (END + 0.3, "asr_start"),
            (END + 0.7 + shift, "asr_done"), (END + 0.72 + shift, "transcript"),
            (END + 0.73 + shift, "turn_end"), (END + 0.75 + shift, "tts_text"),
            (END + 0.95 + shift, "tts_audio"), (END + 1.0 + shift, "wire_audio"),
            (END + 1.02 + shift, "wire_audio")]


def test_a_turn_is_split_at_its_stages_and_whisper_s_last_read_is_the_one_waited_for() -> None:
    stages = turn_stages(_marks(), speech_start_at=END - 2.0, speech_end_at=END,
                         first_audio_at=END + 1.05)
    assert stages["vad_stop"] == 250.0 and stages["transcript"] == 720.0
    assert stages["wire_audio"] == 1000.0 and stages["client_audio"] == 1050.0
    assert stages["asr_reads"] == 2
    assert stages["asr_reads_ms"] == 800.0
    assert stages["asr_final_start"] == 300.0 and stages["asr_final_ms"] == 400.0


def test_marks_reach_the_client_through_the_file(tmp_path: Path) -> None:
    writer = MarkWriter(tmp_path / "marks.jsonl")
    writer.timeline.marks.extend(_marks())
    writer.flush()
    writer.timeline.marks.append((END + 5.0, "asr_start"))
    writer.flush()
    assert read_marks(tmp_path / "marks.jsonl") == [*_marks(), (END + 5.0, "asr_start")]
    assert read_marks(tmp_path / "none.jsonl") == []


def test_medians_per_arm_say_which_stage_the_face_slows() -> None:
    rows = []
    for video, shift in ((True, 0.2), (False, 0.0)):
        for k in range(3):
            at = END + 20.0 * k
            marks = [(t + 20.0 * k, name) for t, name in _marks(shift)]
            row = {"video": video, "at": {"speech_start": at - 2.0, "speech_end": at,
                                          "first_audio": at + 1.05 + shift}}
            join_stages([row], marks)
            rows.append(row)
    medians = stage_medians(rows)
    slower = medians["face_minus_voice"]
    assert slower["vad_stop"] == 0.0 and slower["asr_final_ms"] == 200.0
    assert slower["client_audio"] == 200.0
    assert medians["avatar_turns_seen"]["transcript"] == 3


def test_the_face_path_is_this_reply_s_only() -> None:
    stats = {"first_frames_audio_in_at": END + 0.95, "first_frames_drawn_ms": 40.0,
             "first_frames_audio_out_ms": 45.0, "first_frames_replies": 3}
    path = face_path(stats, END + 1.05, END)
    assert path == {"drawn_ms": 40.0, "audio_out_ms": 45.0, "client_audio_ms": 100.0}
    assert face_path(stats, END + 1.05, END + 2.0) == {}  # an older reply's
    assert face_path(None, None, END) == {}


def test_the_writer_flushes_by_itself(tmp_path: Path) -> None:
    writer = MarkWriter(tmp_path / "marks.jsonl")
    writer.timeline.marks.append((END, "vad_stop"))
    deadline = time.monotonic() + 5.0
    while not read_marks(tmp_path / "marks.jsonl") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert read_marks(tmp_path / "marks.jsonl") == [(END, "vad_stop")]
