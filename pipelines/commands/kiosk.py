"""`avatar-forcing kiosk install|wait`: a kiosk that starts at boot and comes back.

`install` writes systemd units (pipelines/kiosk/systemd_units.py) for the server
(restarted whenever it dies) and Chromium in kiosk mode on the kiosk page (opened
once the server answers), enables them, and starts them where systemd runs;
`install --uninstall` disables and deletes exactly those. `wait` returns once a
server's /healthz answers (the browser unit's ExecStartPre). docs/KIOSK.md.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipelines.kiosk.systemd_units import (
    UNITS,
    KioskInstallError,
    KioskPlan,
    find_browser,
    remove_units,
    unit_dir,
    unit_texts,
    write_units,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `kiosk` sub-command and its own sub-commands."""
    parser = subparsers.add_parser(
        "kiosk", help="start the kiosk at boot (systemd units) and wait for its server",
        description="Install the kiosk as systemd services (the server, restarted whenever "
        "it dies, and Chromium in kiosk mode on its page), or wait for a server to answer. "
        "docs/KIOSK.md.")
    actions = parser.add_subparsers(dest="kiosk_action", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install", help="write, enable and start the kiosk's systemd units",
        description="Write avatar-forcing-server.service and avatar-forcing-kiosk.service, "
        "enable them (started at boot) and start them where systemd runs. --uninstall "
        "stops, disables and deletes them.")
    scope = install.add_mutually_exclusive_group()
    scope.add_argument("--user", dest="user", action="store_true", default=True,
                       help="units of the desktop session's user (~/.config/systemd/user; "
                       "the default): the browser starts with the graphical session")
    scope.add_argument("--system", dest="user", action="store_false",
                       help="system units (/etc/systemd/system, as root), run as --run-as")
    install.add_argument("--uninstall", action="store_true",
                         help="stop, disable and delete the units an install wrote")
    install.add_argument("--config", type=Path, default=None,
                         help="the server's settings file (TOML/YAML), passed to serve")
    install.add_argument("--host", default="127.0.0.1",
                         help="address the server binds and the page opens (127.0.0.1)")
    install.add_argument("--port", type=int, default=8765, help="server port (8765)")
    install.add_argument("--browser", default=None,
                         help="the browser to run (default: chromium on PATH)")
    install.add_argument("--run-as", default=None,
                         help="--system: the account both run as (default: the one that "
                         "called sudo, else the current one)")
    install.add_argument("--display", default=":0", help="--system: the browser's X display")
    install.add_argument("--unit-dir", type=Path, default=None,
                         help="write the units here and enable nothing (for review or "
                         "packaging)")
    install.add_argument("--no-start", action="store_true",
                         help="enable for the next boot, do not start now")
    install.set_defaults(handler=run_install)
    wait = actions.add_parser("wait", help="return once a server's /healthz answers",
                              description="Poll URL until it answers 200 with status ok "
                              "(exit 0), or give up after --timeout seconds (exit 1).")
    wait.add_argument("--url", default="http://127.0.0.1:8765/healthz")
    wait.add_argument("--timeout", type=float, default=600.0, help="seconds (600)")
    wait.set_defaults(handler=run_wait)


def _systemctl(user: bool, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["systemctl", *(["--user"] if user else []), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def systemd_running(user: bool) -> bool:
    """A service manager answers (PID 1 is systemd; for --user, the user's manager)."""
    if not Path("/run/systemd/system").is_dir():
        return False
    return _systemctl(user, "is-system-running").stdout.strip() not in ("", "offline")


def _require_systemd() -> None:
    if shutil.which("systemctl") is None:
        raise KioskInstallError(
            "systemd not found (no systemctl on PATH): 'kiosk install' writes systemd units. "
            "On a machine without systemd start 'avatar-forcing serve' and Chromium from the "
            "desktop's autostart (docs/KIOSK.md, Launching a kiosk)")


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise KioskInstallError(f"{what} failed: {(result.stderr or result.stdout).strip()}")


def run_install(args: argparse.Namespace) -> int:
    """Write (or with --uninstall delete) the units; enable and start them."""
    _require_systemd()
    user: bool = args.user
    directory = args.unit_dir or unit_dir(user)
    enable = args.unit_dir is None
    running = enable and systemd_running(user)
    if args.uninstall:
        if enable:
            if running:
                _systemctl(user, "stop", *UNITS)
            _systemctl(user, "disable", *UNITS)  # our symlinks; fine if none
        removed = remove_units(directory)
        if enable and user:  # the folders an install made, if nothing else is in them
            for folder in (directory, directory.parent):
                with contextlib.suppress(OSError):
                    folder.rmdir()
        if running:
            _systemctl(user, "daemon-reload")
        print(f"removed {len(removed)} unit(s): {', '.join(map(str, removed)) or 'none'}")
        return 0
    if args.port < 1 or args.port > 65535:
        raise KioskInstallError(f"--port must be 1-65535, got {args.port}")
    if args.config is not None and not args.config.is_file():
        raise KioskInstallError(f"--config: no such file: {args.config}")
    run_as = None if user else (args.run_as or os.environ.get("SUDO_USER") or getpass.getuser())
    home = Path.home() if user or run_as is None else Path(os.path.expanduser(f"~{run_as}"))
    plan = KioskPlan(user=user, host=args.host, port=args.port, python=sys.executable,
                     browser=find_browser(args.browser),
                     profile_dir=home / ".local/share/avatar-forcing/kiosk-chromium",
                     config=None if args.config is None else args.config.resolve(),
                     run_as=run_as, display=args.display)
    written = write_units(unit_texts(plan), directory)
    print("wrote " + ", ".join(map(str, written)))
    if not enable:
        return 0
    _check(_systemctl(user, "enable", *UNITS), "systemctl enable")
    if running:
        _check(_systemctl(user, "daemon-reload"), "systemctl daemon-reload")
        if not args.no_start:
            _check(_systemctl(user, "restart", *UNITS), "systemctl restart")
        print("enabled" + ("" if args.no_start else " and started") + f": {' '.join(UNITS)}")
    else:
        print(f"enabled for the next boot: {' '.join(UNITS)} (no systemd service manager "
              "answers here now, so nothing was started)")
    return 0


def wait_for_health(url: str, timeout: float, every: float = 0.5) -> bool:
    """Poll `url` until it answers 200 with `"status": "ok"`; False after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=max(every, 2.0)) as response:
                if response.status == 200 and json.load(response).get("status") == "ok":
                    return True
        except (OSError, ValueError, urllib.error.URLError):
            pass  # not up yet
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)


def run_wait(args: argparse.Namespace) -> int:
    """Exit 0 once the server answers, 1 (saying so) after the timeout."""
    if args.timeout <= 0:
        raise ValueError(f"--timeout must be > 0, got {args.timeout}")
    if wait_for_health(args.url, args.timeout):
        return 0
    print(f"avatar-forcing kiosk wait: {args.url} did not answer within {args.timeout:g} s",
          file=sys.stderr)
    return 1
