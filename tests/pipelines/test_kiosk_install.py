"""`avatar-forcing kiosk install`: systemd units the manager's own checker passes,
enabled for boot and removed again exactly; bad input refused with nothing written.

The units are checked with `systemd-analyze verify` (the Debian package `systemd`).
Their start commands are run for real in tests/pipelines/test_kiosk_boot.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from avatar.memory import arena_cap_environment
from pipelines.cli import main
from pipelines.kiosk.systemd_units import (
    BROWSER_UNIT,
    MARKER,
    SERVER_UNIT,
    KioskPlan,
    exec_args,
    exec_line,
    unit_command,
    unit_texts,
)


def analyze_or_skip() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("SKIPPED LOUDLY: systemd-analyze is missing, so the kiosk's units were NOT "
                    "verified by systemd's checker (apt-get install systemd)")
    return path


def verify(units: list[Path], *, user: bool, tmp_path: Path) -> str:
    """`systemd-analyze [--user] verify`: every warning, or '' for units it passes."""
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    result = subprocess.run(
        [analyze_or_skip(), *(["--user"] if user else []), "verify", *map(str, units)],
        capture_output=True, text=True, env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)},
        check=False)
    assert result.returncode == 0, result.stderr
    return (result.stdout + result.stderr).strip()


def tree(root: Path) -> set[str]:
    """Every path under `root` (files, links, folders)."""
    return {str(path.relative_to(root)) for path in root.rglob("*")}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh home for the user's units (~/.config/systemd/user)."""
    if shutil.which("systemctl") is None:
        pytest.skip("SKIPPED LOUDLY: systemctl is missing, so kiosk install was NOT tested "
                    "(apt-get install systemd)")
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home


def test_install_writes_units_that_systemd_passes_and_enables_them_for_boot(
        home: Path, tmp_path: Path) -> None:
    before = tree(home)
    config = tmp_path / "kiosk settings.toml"  # a space: quoted in ExecStart
    config.write_text("[kiosk]\naway_secs = 20\n")
    assert main(["kiosk", "install", "--user", "--port", "8799", "--config", str(config)]) == 0
    units = home / ".config/systemd/user"
    assert verify([units / SERVER_UNIT, units / BROWSER_UNIT], user=True, tmp_path=tmp_path) == ""
    # enabled: started with the user's session, the browser with the graphical one
    assert (units / "default.target.wants" / SERVER_UNIT).is_symlink()
    assert (units / "graphical-session.target.wants" / BROWSER_UNIT).is_symlink()
    server, browser = ((units / name).read_text() for name in (SERVER_UNIT, BROWSER_UNIT))
    for line in ("Restart=always", "RestartSec=1", "StartLimitIntervalSec=0"):
        assert line in server.splitlines()
    # the server's environment already caps malloc's arenas: a restart starts one
    # interpreter, not one that re-executes itself to set the cap (avatar/memory.py)
    environment = dict(line.split("=", 1)[1].split("=", 1) for line in server.splitlines()
                       if line.startswith("Environment="))
    assert arena_cap_environment(environment) is None
    serve = unit_command(server, "ExecStart")
    assert serve[1:] == ["-m", "pipelines.cli", "serve", "--host", "127.0.0.1", "--port", "8799",
                         "--config", str(config)]
    assert Path(serve[0]).is_file()
    assert f"After={SERVER_UNIT}" in browser.splitlines()
    wait = unit_command(browser, "ExecStartPre")
    assert wait[3:7] == ["kiosk", "wait", "--url", "http://127.0.0.1:8799/healthz"]
    page = unit_command(browser, "ExecStart")
    assert {"--kiosk", "--autoplay-policy=no-user-gesture-required"} <= set(page)
    assert page[-1] == "http://127.0.0.1:8799/?kiosk=1"
    # uninstall: exactly what was there before
    assert main(["kiosk", "install", "--user", "--uninstall"]) == 0
    assert tree(home) == before


def test_system_units_run_as_the_desktop_user_and_pass_the_checker(
        home: Path, tmp_path: Path) -> None:
    out = tmp_path / "system"
    assert main(["kiosk", "install", "--system", "--run-as", "kiosk", "--unit-dir",
                 str(out)]) == 0
    assert verify(sorted(out.iterdir()), user=False, tmp_path=tmp_path) == ""
    browser = (out / BROWSER_UNIT).read_text().splitlines()
    assert {"User=kiosk", "Environment=DISPLAY=:0", "WantedBy=graphical.target"} <= set(browser)
    assert "WantedBy=multi-user.target" in (out / SERVER_UNIT).read_text().splitlines()


def test_a_machine_without_systemd_is_told_so_and_nothing_is_written(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(home)
    bin_dir = tmp_path / "bin"  # chromium, but no systemctl
    bin_dir.mkdir()
    (bin_dir / "chromium").symlink_to("/bin/true")
    monkeypatch.setenv("PATH", str(bin_dir))
    assert main(["kiosk", "install", "--user"]) == 1
    assert "systemd not found (no systemctl on PATH)" in capsys.readouterr().err
    assert tree(home) == before


def test_a_foreign_unit_is_never_replaced_nor_removed(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    units = home / ".config/systemd/user"
    units.mkdir(parents=True)
    (units / SERVER_UNIT).write_text("[Service]\nExecStart=/usr/bin/operators-own\n")
    assert main(["kiosk", "install", "--user"]) == 1
    assert "was not written by 'avatar-forcing kiosk install'" in capsys.readouterr().err
    assert sorted(p.name for p in units.iterdir()) == [SERVER_UNIT]  # no browser unit either
    assert main(["kiosk", "install", "--user", "--uninstall"]) == 0
    assert (units / SERVER_UNIT).read_text().startswith("[Service]")


@pytest.mark.parametrize(("argv", "error"), [
    (["--browser", "no-such-browser"], "browser not found: 'no-such-browser'"),
    (["--port", "0"], "--port must be 1-65535"),
    (["--config", "/nonexistent/kiosk.toml"], "--config: no such file"),
])
def test_bad_input_is_named_and_nothing_is_written(
        home: Path, argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree(home)
    assert main(["kiosk", "install", "--user", *argv]) == 1
    assert error in capsys.readouterr().err
    assert tree(home) == before


def test_command_lines_survive_systemd_quoting() -> None:
    argv = ["/opt/my kiosk/python", "--config", "/srv/50% off/$HOME.toml", 'say "hi"', ""]
    assert exec_args(exec_line(argv)) == argv
    plan = KioskPlan(user=True, python="/opt/my kiosk/python", browser="/usr/bin/chromium")
    assert unit_command(unit_texts(plan)[SERVER_UNIT], "ExecStart")[0] == "/opt/my kiosk/python"
    assert all(text.startswith(MARKER) for text in unit_texts(plan).values())


def test_wait_gives_up_on_a_server_that_never_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kiosk", "wait", "--url", "http://127.0.0.1:9/healthz", "--timeout", "1"]) == 1
    assert "did not answer within 1 s" in capsys.readouterr().err
