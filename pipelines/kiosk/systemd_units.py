"""systemd units that start a kiosk at boot: the server, then Chromium on its page.

`avatar-forcing kiosk install` (pipelines/commands/kiosk.py) writes two units:
- `avatar-forcing-server.service`: `avatar-forcing serve`, restarted by systemd
  whenever it dies (`Restart=always`, `RestartSec=1`, never given up on:
  `StartLimitIntervalSec=0`); a crash or `kill -9` brings it back by itself;
- `avatar-forcing-kiosk.service`: Chromium in kiosk mode on `/?kiosk=1`
  (docs/KIOSK.md's launch line), started once the server answers: its
  `ExecStartPre` is `avatar-forcing kiosk wait`, which returns when `/healthz`
  does. The page reconnects by itself after a server restart, so the browser is
  not restarted with the server; a browser that dies is restarted.

The units are built as text here (no I/O), written all or nothing by
`write_units` (temporary files renamed at the end), and carry a marker line so
`remove_units` deletes exactly what an install wrote and never an operator's own
unit of the same name.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from avatar.memory import ARENA_MAX

#: the first line of every unit we write: what `remove_units` looks for
MARKER = "# Written by `avatar-forcing kiosk install` (docs/KIOSK.md); removed by --uninstall."
SERVER_UNIT = "avatar-forcing-server.service"
BROWSER_UNIT = "avatar-forcing-kiosk.service"
UNITS = (SERVER_UNIT, BROWSER_UNIT)
#: browsers looked for on PATH, in order, when none is named
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: docs/KIOSK.md's launch line: full screen, sound without a tap, camera and mic allowed
KIOSK_FLAGS = ("--kiosk", "--autoplay-policy=no-user-gesture-required",
               "--use-fake-ui-for-media-stream", "--noerrdialogs", "--no-first-run")
#: seconds `kiosk wait` gives the server: its first boot loads the models and warms up
WAIT_SECS = 600


class KioskInstallError(ValueError):
    """The units cannot be written or removed here (the message says why)."""


@dataclass(frozen=True)
class KioskPlan:
    """What the units start, resolved to absolute paths at install time."""

    #: `--user`: units for the desktop session's user manager; else system units
    user: bool
    host: str = "127.0.0.1"
    port: int = 8765
    python: str = sys.executable
    browser: str = "chromium"
    #: Chromium's own profile folder for the kiosk (kept across restarts)
    profile_dir: Path = Path("~/.local/share/avatar-forcing/kiosk-chromium")
    config: Path | None = None
    #: system units only: the account both run as (the desktop's user for the browser)
    run_as: str | None = None
    #: system units only: the X display the browser draws on
    display: str = ":0"
    serve_args: tuple[str, ...] = field(default_factory=tuple)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def server_command(self) -> list[str]:
        """The server unit's `ExecStart`."""
        command = [self.python, "-m", "pipelines.cli", "serve", "--host", self.host,
                   "--port", str(self.port)]
        if self.config is not None:
            command += ["--config", str(self.config)]
        return command + list(self.serve_args)

    def wait_command(self) -> list[str]:
        """The browser unit's `ExecStartPre`: returns once the server answers."""
        return [self.python, "-m", "pipelines.cli", "kiosk", "wait",
                "--url", f"{self.origin}/healthz", "--timeout", str(WAIT_SECS)]

    def browser_command(self) -> list[str]:
        """The browser unit's `ExecStart`: the kiosk page, full screen."""
        return [self.browser, *KIOSK_FLAGS, f"--user-data-dir={self.profile_dir}",
                f"{self.origin}/?kiosk=1"]


def exec_line(argv: Sequence[str]) -> str:
    """`argv` as a systemd command line: `%` and `$` escaped (systemd expands them),
    an argument with spaces or quotes double-quoted."""
    words = []
    for arg in argv:
        arg = arg.replace("%", "%%").replace("$", "$$")
        if not arg or re.search(r"[\s\"'\\;]", arg):
            arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
        words.append(arg)
    return " ".join(words)


def exec_args(line: str) -> list[str]:
    """A command line as `exec_line` wrote it, back to its arguments (what systemd runs)."""
    return [word.replace("%%", "%").replace("$$", "$") for word in shlex.split(line)]


def unit_command(text: str, key: str) -> list[str]:
    """The arguments of `key` (`ExecStart`, `ExecStartPre`) in a unit's text."""
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == key:
            return exec_args(value.strip())
    raise KeyError(f"no {key}= in the unit")


def server_unit(plan: KioskPlan) -> str:
    """`avatar-forcing-server.service`."""
    account = "" if plan.user or plan.run_as is None else f"User={plan.run_as}\n"
    target = "default.target" if plan.user else "multi-user.target"
    after = "" if plan.user else "After=network.target\n"
    return f"""{MARKER}
[Unit]
Description=avatar-forcing kiosk server: the attendant's voice and face
{after}# restart however often it dies: a kiosk is never left down
StartLimitIntervalSec=0

[Service]
Type=simple
{account}ExecStart={exec_line(plan.server_command())}
Environment=PYTHONUNBUFFERED=1
# the malloc arena cap the server would otherwise re-execute itself to set
# (avatar/memory.py): one interpreter start fewer on every restart
Environment=MALLOC_ARENA_MAX={ARENA_MAX}
Restart=always
RestartSec=1
# SIGTERM is a graceful shutdown (live sessions closed, the embedded LLM stopped)
TimeoutStopSec=20
KillMode=control-group

[Install]
WantedBy={target}
"""


def browser_unit(plan: KioskPlan) -> str:
    """`avatar-forcing-kiosk.service`."""
    if plan.user:
        session = ("After=graphical-session.target\nPartOf=graphical-session.target\n")
        account, target = "", "graphical-session.target"
    else:
        session = "After=graphical.target\n"
        account = (f"User={plan.run_as}\n" if plan.run_as else "") + \
            f"Environment=DISPLAY={plan.display}\n"
        target = "graphical.target"
    return f"""{MARKER}
[Unit]
Description=avatar-forcing kiosk page in Chromium, full screen
Wants={SERVER_UNIT}
After={SERVER_UNIT}
{session}StartLimitIntervalSec=0

[Service]
Type=simple
{account}# the page is opened once the server answers /healthz (its first boot loads models)
ExecStartPre={exec_line(plan.wait_command())}
ExecStart={exec_line(plan.browser_command())}
TimeoutStartSec={WAIT_SECS + 60}
Restart=always
RestartSec=3

[Install]
WantedBy={target}
"""


def unit_texts(plan: KioskPlan) -> dict[str, str]:
    """Each unit's file name and text."""
    return {SERVER_UNIT: server_unit(plan), BROWSER_UNIT: browser_unit(plan)}


def unit_dir(user: bool) -> Path:
    """Where the service manager reads units: the user's, or the system's."""
    if not user:
        return Path("/etc/systemd/system")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def is_ours(path: Path) -> bool:
    """The file is a unit an install wrote (its first line is the marker)."""
    try:
        with path.open(encoding="utf-8") as unit:
            return unit.readline().rstrip("\n") == MARKER
    except (OSError, UnicodeDecodeError):
        return False


def write_units(texts: dict[str, str], directory: Path) -> list[Path]:
    """Write every unit or none: each to a temporary file beside it, renamed at the
    end. Refuses to replace a unit of the same name that we did not write.

    Raises:
        KioskInstallError: a foreign unit is in the way, or the folder is not writable.
    """
    for name in texts:
        if (directory / name).exists() and not is_ours(directory / name):
            raise KioskInstallError(f"{directory / name} exists and was not written by "
                                    "'avatar-forcing kiosk install'; move it away first")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".avatar-forcing-", dir=directory))
    except OSError as error:
        raise KioskInstallError(f"cannot write units in {directory}: {error}") from error
    written: list[Path] = []
    try:
        for name, text in texts.items():
            (staging / name).write_text(text, encoding="utf-8")
            (staging / name).chmod(0o644)
        for name in texts:
            os.replace(staging / name, directory / name)
            written.append(directory / name)
    except OSError as error:
        for path in written:  # a half-done install is undone
            path.unlink(missing_ok=True)
        raise KioskInstallError(f"cannot write units in {directory}: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def remove_units(directory: Path) -> list[Path]:
    """Delete the units an install wrote in `directory` (not a foreign one of the
    same name); returns what was deleted."""
    removed = []
    for name in UNITS:
        path = directory / name
        if path.exists() and is_ours(path):
            path.unlink()
            removed.append(path)
    return removed


def find_browser(named: str | None) -> str:
    """The browser's absolute path: `named`, else the first of BROWSERS on PATH.

    Raises:
        KioskInstallError: no such browser.
    """
    for candidate in [named] if named else BROWSERS:
        found = shutil.which(candidate)
        if found:
            return str(Path(found).resolve()) if Path(candidate).is_absolute() else found
    wanted = repr(named) if named else "Chromium (" + ", ".join(BROWSERS) + ")"
    raise KioskInstallError(f"browser not found: {wanted} is not on PATH; install Chromium "
                            "(Debian: apt-get install chromium) or name one with --browser")


__all__ = ["BROWSER_UNIT", "KIOSK_FLAGS", "MARKER", "SERVER_UNIT", "UNITS", "KioskInstallError",
           "KioskPlan", "browser_unit", "exec_args", "exec_line", "find_browser", "is_ours",
           "remove_units", "server_unit", "unit_command", "unit_dir", "unit_texts",
           "write_units"]
