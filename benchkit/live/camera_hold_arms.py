"""bench/live/live.py --no-hold-too: the Python SDK's camera hold against none, as two face
arms of one run (with its voice-only arm), and where the cores went while each reply
was thought up.

Why here: the SDK holds its camera from the user's end of turn until the reply starts
(sdk/camera_hold.py); whether that buys the voice anything shows only against a face
whose camera sends every frame, asked the same questions on the same server in the
same minutes. The usual figures stay the held face's (the product's default): its
turns and sessions are the summary's, the unheld arm's are kept apart here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.bench_args import save_plot
from benchkit.stats import paired_interval_90, rounded_percentile

#: the arms as live.py's phase names them (benchkit/live/live_phases.py ARMS)
HOLD, NO_HOLD, VOICE = "face", "face_no_hold", "voice"


def live_groups(server_pid: int | None, llm_pid: int | None) -> Callable[[], dict[int, str]]:
    """A resolver of pid -> group for benchkit.kiosk.turn_cpu.CpuTimeline: the server's
    own process, its face workers and helpers, its LLM server, and this bench process
    (the client: its camera clip decoded and sent)."""
    from benchkit.kiosk.turn_cpu import kiosk_groups

    mine = os.getpid()
    server = {"live": server_pid if server_pid is not None else mine}
    resolve = kiosk_groups(server, {"live": llm_pid})

    def groups() -> dict[int, str]:
        found = {pid: group.removeprefix("live ") for pid, group in resolve().items()
                 if not group.startswith("chromium")}
        found.setdefault(mine, "client")
        return found

    return groups


def split_arms(result: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The phase's result as (the held face and voice only, as the summary reads them;
    the unheld face's turns and sessions)."""
    def held(item: Any) -> bool:
        row = item.row if hasattr(item, "row") else item
        return bool(row.get("arm") != NO_HOLD)

    main = {**result, "turns": [t for t in result["turns"] if held(t)],
            "sessions": [s for s in result["sessions"] if held(s)]}
    unheld = {"turns": [t for t in result["turns"] if not held(t)],
              "sessions": [s for s in result["sessions"] if not held(s)]}
    return main, unheld


def _v2v(rows: list[dict[str, Any]]) -> list[float]:
    return [r["voice_to_voice_ms"] for r in rows if r.get("voice_to_voice_ms") is not None]


def _ratio(a: list[float], b: list[float]) -> float | None:
    if not a or not b:
        return None
    return float(np.percentile(a, 50) / np.percentile(b, 50))


def window_cores(rows: list[dict[str, Any]], secs: Callable[[float, float], dict[str, float]]
                 ) -> dict[str, float] | None:
    """Cores by group over the arm's turns' voice-to-voice windows pooled (the question's
    end to the reply's first audio at the client: the hold's window), from `secs`
    (CpuTimeline.secs)."""
    total: dict[str, float] = {}
    wall = 0.0
    for row in rows:
        at = row.get("at") or {}
        start, end = at.get("speech_end"), at.get("first_audio")
        if start is None or end is None or end <= start:
            continue
        wall += end - start
        for group, value in secs(start, end).items():
            total[group] = total.get(group, 0.0) + value
    if wall <= 0:
        return None
    return {group: round(value / wall, 3) for group, value in
            sorted(total.items(), key=lambda item: -item[1])}


def hold_against_none(rows: list[dict[str, Any]], sessions: list[dict[str, Any]],
                      secs: Callable[[float, float], dict[str, float]] | None) -> dict[str, Any]:
    """Each arm's voice to voice p50, what its face adds over voice only, the held face's
    over the unheld's (a 90 % interval, questions drawn again with replacement), the
    server's process CPU per session, the cores in the voice-to-voice windows and the
    camera frames each face session did not send."""
    by_arm = {arm: [r for r in rows if r.get("arm") == arm] for arm in (HOLD, NO_HOLD, VOICE)}
    v2v = {arm: _v2v(arm_rows) for arm, arm_rows in by_arm.items()}
    p50 = {arm: rounded_percentile(values, 50) for arm, values in v2v.items()}
    ratio = _ratio(v2v[HOLD], v2v[NO_HOLD])
    questions = sorted({r["question"] for r in by_arm[HOLD] + by_arm[NO_HOLD]})
    interval = paired_interval_90(
        [(_v2v([r for r in by_arm[HOLD] if r["question"] == q]),
          _v2v([r for r in by_arm[NO_HOLD] if r["question"] == q])) for q in questions], _ratio)
    voice = p50[VOICE]
    adds = {arm: None if (face := p50[arm]) is None or voice is None else round(face - voice, 1)
            for arm in (HOLD, NO_HOLD)}
    per_session = {arm: [s for s in sessions if s.get("arm") == arm] for arm in (HOLD, NO_HOLD, VOICE)}
    return {
        "turns": {arm: len(values) for arm, values in v2v.items()},
        "voice_to_voice_ms_p50": p50,
        "voice_to_voice_ms": v2v,
        "hold_over_no_hold": None if ratio is None else round(ratio, 3),
        "hold_over_no_hold_interval_90": None if interval is None
        else [round(v, 3) for v in interval],
        "avatar_adds_ms_p50": adds,
        "process_cpu_percent_sessions_p50": {
            arm: rounded_percentile([s.get("process_cpu_percent") for s in found], 50)
            for arm, found in per_session.items()},
        "v2v_window_cores": {arm: window_cores(arm_rows, secs) if secs else None
                             for arm, arm_rows in by_arm.items()},
        "camera_frames_held_per_session": {
            arm: [s.get("camera_frames_held") for s in per_session[arm]] for arm in (HOLD, NO_HOLD)},
    }


def plot_hold(compared: dict[str, Any], out: Path, note: str) -> None:
    """Left: each arm's turns' voice to voice, in the order asked; right: the server's and
    the client's cores in the voice-to-voice windows, by arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {HOLD: "face, camera held", NO_HOLD: "face, every frame sent", VOICE: "voice only"}
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6),
                                         gridspec_kw={"width_ratios": [3, 2]})
    for (arm, name), marker in zip(names.items(), "os^", strict=True):
        values = compared["voice_to_voice_ms"][arm]
        left.plot(range(len(values)), values, marker, ls="",
                  label=f"{name}: p50 {compared['voice_to_voice_ms_p50'][arm]} ms")
    left.set_xlabel("turn of the arm, in the order asked")
    left.set_ylabel("voice to voice (ms)")
    highest = max((v for values in compared["voice_to_voice_ms"].values() for v in values),
                  default=1000)
    left.set_ylim(0, highest * 1.35)
    left.grid(alpha=0.3)
    left.legend(fontsize=8, loc="upper left")
    groups = ["server", "faces", "llm", "client"]
    width = 0.27
    for k, (arm, name) in enumerate(names.items()):
        cores = compared["v2v_window_cores"].get(arm) or {}
        right.bar([g + (k - 1) * width for g in range(len(groups))],
                  [cores.get(group, 0.0) for group in groups], width, label=name)
    right.set_xticks(range(len(groups)), groups)
    right.set_ylabel("cores, question's end to reply heard")
    right.grid(alpha=0.3, axis="y")
    figure.suptitle(note, fontsize=9)
    save_plot(figure, right, out)  # (its legend; a palette PNG, as the benches save theirs)


__all__ = ["HOLD", "NO_HOLD", "VOICE", "hold_against_none", "live_groups", "plot_hold",
           "split_arms", "window_cores"]
