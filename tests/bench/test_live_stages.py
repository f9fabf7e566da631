"""bench/live/live.py's per-turn stages: the server's marks through a file, joined to the
client's instants, whisper's last read found, medians per arm."""

from __future__ import annotations

import time
from pathlib import Path

from benchkit.live.live_stages import (
    MarkWriter,
    ReadCpu,
    face_path,
    join_stages,
    read_cpu,
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


def test_who_had_the_cpu_during_whisper_s_last_read(tmp_path: Path) -> None:
    """Each read's CPU by who (this process's threads here) goes through the file beside
    the marks, and the last read's joins its turn; medians per arm."""
    writer = MarkWriter(tmp_path / "marks.jsonl")
    assert isinstance(writer.timeline.read_hook, ReadCpu)
    writer.timeline.read_hook("asr_start")
    sum(range(200_000))  # the read's own work, in this thread (whisper's here)
    writer.timeline.read_hook("asr_done")
    (at, used), = [(t, c) for t, c in
                   [(m[0], m[2]) for m in writer.timeline.marks if len(m) == 3]]
    assert {"whisper", "loop", "server_other", "face_workers", "llm", "client"} <= set(used)
    writer.timeline.marks[:] = [*_marks(), (END + 0.7, "asr_cpu", used)]
    writer.flush()
    path = tmp_path / "marks.jsonl"
    assert read_marks(path) == _marks() and read_cpu(path) == [(END + 0.7, used)]
    row = {"video": True, "at": {"speech_start": END - 2.0, "speech_end": END,
                                 "first_audio": END + 1.05}}
    join_stages([row], read_marks(path), read_cpu(path))
    assert row["asr_final_cpu"] == used
    assert stage_medians([row])["avatar_asr_final_cpu_ms"]["whisper"] == used["whisper"]
