"""Per-turn stages of the live server (whisper's reads, the LLM, piper, the face's way
out), read by bench/live/live.py for face and voice-only turns alike.

Why here: the face adds to voice-to-voice mostly by slowing the voice models on a
shared CPU; to see which stage it slows, each turn is split the way
bench/voice/voice_latency.py splits it, with the same observer
(`benchkit.voice.stage_timeline.StageTimeline`, imported, not copied). The server
runs in its own process, so it appends the observer's marks to a file named by
`MARKS_ENV`; the client joins them to its own instants after the run (both read
CLOCK_MONOTONIC, one clock for every process on the machine).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchkit.stats import rounded_percentile
from benchkit.voice.stage_timeline import StageTimeline

#: the environment variable naming the marks file (inherited by the server's process;
#: an env var, not a flag, so an earlier revision's bench/live/live.py passes it on)
MARKS_ENV = "BENCH_LIVE_STAGE_MARKS"

#: how often the server appends new marks (a turn's are read long after its reply)
FLUSH_SECS = 0.5

#: the stages in the order a turn usually meets them (ms after the question's end)
STAGES = ("asr_start", "vad_stop", "asr_done", "transcript", "turn_end", "llm_request",
          "llm_first_text", "tts_text", "tts_audio", "wire_audio", "client_audio")


def _ticks(path: str) -> int:
    """utime + stime of one /proc stat file, in clock ticks (0: gone)."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def _children(pid: int) -> list[int]:
    """The processes `pid` started, and theirs."""
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        return found
    return found + [g for c in found for g in _children(c)]


class ReadCpu:
    """Who had the CPU during each whisper read (server side, Linux /proc): whisper's own
    thread, the event loop's (the main thread), the server's other threads, the face's
    worker processes, the LLM's process and the bench client (this process's parent),
    in ms of CPU, each read's a record `[at, "asr_cpu", {who: ms}]` among the marks."""

    def __init__(self, marks: list[Any]) -> None:
        self.marks = marks
        self.pid = os.getpid()
        self.client = os.getppid()
        self.tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
        self._start: dict[str, int] | None = None

    def snapshot(self, whisper_tid: int) -> dict[str, int]:
        out = {"whisper": 0, "loop": 0, "server_other": 0, "face_workers": 0, "llm": 0,
               "client": _ticks(f"/proc/{self.client}/stat")}
        for tid in os.listdir(f"/proc/{self.pid}/task"):
            who = ("whisper" if int(tid) == whisper_tid else
                   "loop" if int(tid) == self.pid else "server_other")
            ticks = _ticks(f"/proc/{self.pid}/task/{tid}/stat")
            out[who] += ticks
            if who == "server_other":  # and by the thread's name (digits dropped)
                try:
                    with open(f"/proc/{self.pid}/task/{tid}/comm", encoding="utf-8") as f:
                        name = "thread:" + f.read().strip().rstrip("0123456789_-")
                except OSError:
                    continue
                out[name] = out.get(name, 0) + ticks
        for child in _children(self.pid):
            try:
                with open(f"/proc/{child}/cmdline", "rb") as f:
                    llm = b"llama" in f.read()
            except OSError:
                continue
            out["llm" if llm else "face_workers"] += _ticks(f"/proc/{child}/stat")
        return out

    def __call__(self, name: str) -> None:
        """StageTimeline's `read_hook`, in whisper's thread."""
        now = self.snapshot(threading.get_native_id())
        if name == "asr_start":
            self._start = now
        elif self._start is not None:
            used = {k: round((now[k] - self._start.get(k, 0)) * self.tick_ms, 1) for k in now}
            used = {k: v for k, v in used.items() if v > 0 or not k.startswith("thread:")}
            self.marks.append((time.monotonic(), "asr_cpu", used))
            self._start = None


class MarkWriter:
    """Server side: a StageTimeline observer on every session, its marks appended to
    a file every FLUSH_SECS by a daemon thread (no hook in the server's loop)."""

    def __init__(self, path: Path) -> None:
        self.timeline = StageTimeline()
        if os.path.isdir("/proc/self/task"):
            self.timeline.read_hook = ReadCpu(self.timeline.marks)
        self.path = path
        self._written = 0
        threading.Thread(target=self._run, name="stage-marks", daemon=True).start()

    def on_session(self, voice: Any) -> None:
        """`ServerConfig.on_session`: observe this session's pipeline."""
        voice.task.add_observer(self.timeline.observer(voice))

    def flush(self) -> None:
        """Append the marks not written yet, one JSON [at, name] a line."""
        marks = self.timeline.marks[self._written:]
        if not marks:
            return
        with self.path.open("a", encoding="utf-8") as out:
            out.writelines(json.dumps(list(mark)) + "\n" for mark in marks)
        self._written += len(marks)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECS)
            self.flush()


def with_stage_marks(config: Any) -> Any:
    """`config` with a MarkWriter as its `on_session` when MARKS_ENV names a file."""
    path = os.environ.get(MARKS_ENV)
    if not path:
        return config
    return replace(config, on_session=MarkWriter(Path(path)).on_session)


def read_marks(path: Path) -> list[tuple[float, str]]:
    """The marks the server wrote (none if it wrote no file); the CPU of each whisper
    read (`read_cpu`) left out."""
    return [(float(m[0]), str(m[1])) for m in _records(path) if len(m) == 2]


def read_cpu(path: Path) -> list[tuple[float, dict[str, float]]]:
    """Each whisper read's CPU by who (`ReadCpu`), at the read's end."""
    return [(float(m[0]), dict(m[2])) for m in _records(path) if len(m) == 3]


def _records(path: Path) -> list[list[Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def whisper_reads(marks: list[tuple[float, str]], after: float,
                  until: float) -> list[tuple[float, float]]:
    """(start, end) of each whisper run that ended in (after, until]."""
    reads, start = [], None
    for at, name in marks:
        if name == "asr_start":
            start = at
        elif name == "asr_done" and start is not None:
            if after < at <= until:
                reads.append((start, at))
            start = None
    return reads


def turn_stages(marks: list[tuple[float, str]], *, speech_start_at: float,
                speech_end_at: float, first_audio_at: float | None) -> dict[str, Any]:
    """One turn split: StageTimeline's stages (ms after the question's end), whisper's
    reads over the question (count, total ms) and its last read before the transcript
    (start and length: the read the reply waits for)."""
    timeline = StageTimeline()
    timeline.marks = marks
    out: dict[str, Any] = timeline.stages(speech_end_at, first_audio_at)
    transcript = out.get("transcript")
    until = speech_end_at + (transcript / 1000.0 if transcript is not None else 5.0)
    reads = whisper_reads(marks, speech_start_at, until + 0.001)
    out["asr_reads"] = len(reads)
    out["asr_reads_ms"] = round(sum(end - start for start, end in reads) * 1000.0, 1)
    if reads:
        start, end = reads[-1]
        out["asr_final_start"] = round((start - speech_end_at) * 1000.0, 1)
        out["asr_final_ms"] = round((end - start) * 1000.0, 1)
    return out


def join_stages(rows: list[dict[str, Any]], marks: list[tuple[float, str]],
                cpu: list[tuple[float, dict[str, float]]] | None = None) -> None:
    """Give each row with the client's instants (`row["at"]`) its `stages`, and with
    `cpu` (`read_cpu`) the CPU by who during whisper's last read (`asr_final_cpu`)."""
    for row in rows:
        at = row.get("at")
        if marks and at:
            stages = turn_stages(marks, speech_start_at=at["speech_start"],
                                 speech_end_at=at["speech_end"],
                                 first_audio_at=at["first_audio"])
            row["stages"] = stages
            if cpu and "asr_final_ms" in stages:
                end = (at["speech_end"] + (stages["asr_final_start"]
                                           + stages["asr_final_ms"]) / 1000.0)
                near = [c for t, c in cpu if abs(t - end) < 0.05]
                if near:
                    row["asr_final_cpu"] = near[0]


def face_path(stats: dict[str, Any] | None, first_audio_at: float | None,
              speech_end_at: float) -> dict[str, Any]:
    """The face's way out for this turn's reply (`first_frames_*` of the face's last
    `metrics` event, pipelines/face/first_frames.py), with the client's first audio
    after the reply's TTS audio entered the face; {} if that event is of an older reply."""
    if not stats or stats.get("first_frames_audio_in_at") is None:
        return {}
    audio_in = float(stats["first_frames_audio_in_at"])
    if audio_in < speech_end_at:
        return {}
    out = {k.removeprefix("first_frames_"): v for k, v in stats.items()
           if k.startswith("first_frames_") and k.endswith("_ms")}
    if first_audio_at is not None:
        out["client_audio_ms"] = round((first_audio_at - audio_in) * 1000.0, 1)
    if "first_frames_lead_in_shown" in stats:  # its lead-in showed the image drawn before
        out["lead_in_shown"] = int(stats["first_frames_lead_in_shown"])
    return out


def stage_medians(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per arm (face / voice only) the median of each stage over its turns, with the
    number of turns it was seen in, and face minus voice only: where the face's added
    voice-to-voice comes in."""
    arms = {"avatar": [r for r in rows if r.get("video")],
            "voice_only": [r for r in rows if not r.get("video")]}
    names = [*STAGES, "asr_final_start", "asr_final_ms", "asr_reads", "asr_reads_ms"]
    out: dict[str, Any] = {}
    for arm, arm_rows in arms.items():
        stages = [r.get("stages") or {} for r in arm_rows]
        out[arm] = {name: rounded_percentile([s.get(name) for s in stages], 50)
                    for name in names}
        out[f"{arm}_turns_seen"] = {name: sum(name in s for s in stages) for name in names}
    out["face_minus_voice"] = {
        name: round(out["avatar"][name] - out["voice_only"][name], 1)
        for name in names
        if out["avatar"][name] is not None and out["voice_only"][name] is not None}
    for arm, arm_rows in arms.items():  # who had the CPU during whisper's last read
        cpus = [r["asr_final_cpu"] for r in arm_rows if r.get("asr_final_cpu")]
        if cpus:
            names = sorted({who for c in cpus for who in c})
            out[f"{arm}_asr_final_cpu_ms"] = {
                who: rounded_percentile([c.get(who, 0.0) for c in cpus], 50) for who in names}
    face = [r.get("face_path") or {} for r in arms["avatar"]]
    keys = sorted({k for f in face for k in f} - {"lead_in_shown"})
    out["face_path"] = {k: rounded_percentile([f.get(k) for f in face], 50) for k in keys}
    if any("lead_in_shown" in f for f in face):  # replies that opened on an image drawn
        out["face_path"]["lead_in_shown_turns"] = sum(f.get("lead_in_shown", 0) for f in face)
    return out
