"""A command run as its own process ends with its own exit code, after Python's exit
steps, even while a daemon thread is inside torch (which would abort finalization)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_script(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("code", [0, 3])
def test_a_daemon_thread_inside_torch_does_not_turn_the_exit_into_an_abort(
    tmp_path: Path, code: int
) -> None:
    done = _run_script(f"""
        import threading, time
        import torch
        from pipelines.process_end import end_process

        def busy():
            x = torch.randn(400, 400)
            while True:
                x = (x @ x).tanh()

        threading.Thread(target=busy, daemon=True).start()
        time.sleep(0.3)
        end_process({code})
    """, tmp_path)
    assert done.returncode == code, done.stderr
    assert "terminate called" not in done.stderr


def test_the_exit_steps_run_threads_joined_atexit_run_output_flushed(tmp_path: Path) -> None:
    marker = tmp_path / "joined.txt"
    done = _run_script(f"""
        import atexit, logging, sys, threading, time
        from pipelines.process_end import end_process

        def late_writer():
            time.sleep(0.3)
            open({str(marker)!r}, "w").write("written")

        threading.Thread(target=late_writer).start()
        atexit.register(lambda: print("atexit ran"))
        logging.basicConfig(stream=sys.stderr)
        logging.getLogger("x").warning("logged")
        sys.stdout.write("buffered, never flushed by hand")
        end_process(5)
    """, tmp_path)
    assert done.returncode == 5
    assert marker.read_text() == "written"  # the non-daemon thread was waited for
    assert "buffered, never flushed by hand" in done.stdout
    assert "atexit ran" in done.stdout
    assert "logged" in done.stderr


def test_the_cli_run_as_a_process_keeps_its_exit_codes(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "serve", "--config",
                           str(missing)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "error" in done.stderr and "nope.yaml" in done.stderr
