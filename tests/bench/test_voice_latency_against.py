"""bench/voice/voice_latency.py --against: what each side is run with, and the pausing of the
sides that wait (benchkit/voice/voice_latency.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

from benchkit.voice.voice_latency import TurnGate, _Side, descendants, side_argv


def test_a_side_gets_the_bench_flags_not_the_runs_own() -> None:
    argv = ["--against", "58b637c", "--turns", "6", "--this-tree-too", "--switch-interval 0.005",
            "--checks-off-too", "--raw=out.json", "--label", "x", "--vad-stop", "0.3",
            "--against-too", "--knowledge-file k.md", "--against-too=--asr-beam 1"]
    assert side_argv(argv) == ["--turns", "6", "--vad-stop", "0.3"]


def test_a_paused_side_and_its_children_stop_until_resumed(tmp_path: Path) -> None:
    """The side's own process and the process it started (its LLM server) both stop."""
    ticks = tmp_path / "ticks"
    child = tmp_path / "child.py"
    child.write_text("import time\nwhile True:\n"
                     f"    open({str(ticks)!r}, 'a').write('x')\n    time.sleep(0.01)\n")
    script = (f"import subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, {str(child)!r}])\ntime.sleep(60)\n")
    side = _Side(label="a", rev="this tree", tree=None, argv=[], folder=tmp_path)
    side.process = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not descendants(side.process.pid) or not ticks.exists():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        side.pause()
        time.sleep(0.2)
        paused = ticks.stat().st_size
        time.sleep(0.3)
        assert ticks.stat().st_size == paused
        side.resume()
        time.sleep(0.3)
        assert ticks.stat().st_size > paused
    finally:
        for pid in descendants(side.process.pid):
            subprocess.run(["kill", "-9", str(pid)], check=False)
        side.process.kill()


def test_a_gate_lets_each_turn_go_when_told(tmp_path: Path) -> None:
    gate = TurnGate(tmp_path)
    gate.ready()
    assert (tmp_path / "ready").exists()

    async def take_turn() -> None:
        await asyncio.wait_for(gate.wait(0), timeout=5)
        gate.done(0)

    async def main() -> None:
        turn = asyncio.create_task(take_turn())
        await asyncio.sleep(0.1)
        assert not turn.done() and not (tmp_path / "done_0").exists()
        (tmp_path / "go_0").touch()
        await turn

    asyncio.run(main())
    assert (tmp_path / "done_0").exists()
