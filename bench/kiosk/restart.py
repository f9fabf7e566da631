"""Figure: bench/results/restart.json, how soon a kiosk's server answers again after a
`kill -9`, as its systemd unit restarts it.

The server unit's own command line (`avatar-forcing kiosk install`'s
`avatar-forcing-server.service`: `python -m pipelines.cli serve` on its defaults, in
its own process group) with an LLM endpoint already running, as in
tests/pipelines/test_kiosk_boot.py (the embedded LLM's own start is not in it: it is
the test LLM, SmolLM2 on one thread, started once by this bench). Each round starts
the server, waits until it answers and its prompt-cache warm-up is done, kills its
process group with SIGKILL (`KillMode=control-group`), waits the unit's `RestartSec`
and runs the command again: `back_secs` is the time from the kill until /healthz
answers (RestartSec included, as the test reports it). No page is connected (the
test's Chromium reconnecting adds its own work to the same cores).

`--against REV`: the same rounds with REV's product (a git worktree first on the path,
benchkit/revision_tree.py), the two sides alternated round by round in one run.

    .venv/bin/python bench/kiosk/restart.py [--rounds 4] [--against 41a1cb8]

`back_secs_p50` per side and `ratio` (this tree over REV); `phases_p50`: seconds
from the restart's command to its server log's "loaded side by side" line (`loaded`:
every part loaded) and to /healthz answering (`answers`); `parts`: that line (each
part's seconds, as that revision logs them).

Runs: ~5 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": back after kill -9 in p50 5.68 s (9.41 s before, x0.60)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit.bench_args import write_json
from benchkit.kiosk.kiosk_server import free_port, healthz
from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT
from benchkit.revision_tree import baseline_tree, path_with
from pipelines.kiosk.systemd_units import SERVER_UNIT, unit_command

#: how often /healthz is asked while the server is down (the figure's resolution)
POLL_S = 0.05
#: a start that takes longer failed
START_TIMEOUT_S = 300.0
#: the server log's lines that mark its phases (loguru's default line has no clock of
#: its own we can trust across processes, so each line is stamped as it is read)
PHASES = {"loaded": re.compile(r"loaded side by side")}


def unit_restart_secs(unit_text: str) -> float:
    """The unit's `RestartSec`."""
    return next(float(line.split("=", 1)[1]) for line in unit_text.splitlines()
                if line.startswith("RestartSec="))


#: the unit as `kiosk install` writes it, from a side's own tree (its port left to fill)
RENDER_UNIT = """
import sys
from pathlib import Path
from pipelines.kiosk.systemd_units import KioskPlan, server_unit
print(server_unit(KioskPlan(user=True, port=0, python=sys.argv[1], config=Path(sys.argv[2]))))
"""


def unit_environment(text: str) -> dict[str, str]:
    """The unit's `Environment=` settings."""
    return dict(line.split("=", 1)[1].split("=", 1) for line in text.splitlines()
                if line.startswith("Environment="))


class Side:
    """One product (this tree or a worktree of REV) run by its own unit's command line
    and environment."""

    def __init__(self, label: str, tree: Path, config: Path, folder: Path) -> None:
        self.label, self.tree, self.folder = label, tree, folder
        python = str(ROOT / ".venv/bin/python")
        self.unit = subprocess.run([python, "-c", RENDER_UNIT, python, str(config)],
                                   cwd=tree, env=path_with(tree), check=True,
                                   capture_output=True, text=True).stdout
        self.command = unit_command(self.unit, "ExecStart")
        self.restart_secs = unit_restart_secs(self.unit)
        self.rounds: list[dict[str, Any]] = []
        self._n = 0

    def start(self, port: int) -> tuple[subprocess.Popen, Path, float]:
        """The server in a process group of its own (a unit's cgroup), logging to a file."""
        self._n += 1
        log = self.folder / f"{self.label}-{self._n}.log"
        env = {**path_with(self.tree), **unit_environment(self.unit), "HF_HUB_OFFLINE": "1"}
        command = [str(port) if prev == "--port" else c
                   for prev, c in zip(["", *self.command], self.command, strict=False)]
        with log.open("w") as out:
            process = subprocess.Popen(command, cwd=self.tree, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        return process, log, time.monotonic()


def answers(http: str) -> dict[str, Any] | None:
    """/healthz, or None while nothing answers."""
    try:
        return healthz(http)
    except (OSError, ValueError):
        return None


def wait_answering(process: subprocess.Popen, http: str, log: Path,
                   stamps: dict[str, float]) -> float:
    """Poll until /healthz answers; stamps each phase line of `log` when first seen."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        now = time.monotonic()
        text = log.read_text(errors="replace")
        for name, pattern in PHASES.items():
            if name not in stamps and pattern.search(text):
                stamps[name] = now
        if answers(http) is not None:
            return time.monotonic()
        if process.poll() is not None or now > deadline:
            raise RuntimeError(f"the server did not answer; see {log}")
        time.sleep(POLL_S)


def one_round(side: Side) -> dict[str, Any]:
    """Boot, settle, kill -9 the group, wait RestartSec, boot again: the figures."""
    port = free_port()
    http = f"http://127.0.0.1:{port}"
    process, log, _ = side.start(port)
    try:
        wait_answering(process, http, log, {})
        while (answers(http) or {}).get("warming", False):
            time.sleep(0.5)
        time.sleep(2.0)  # the face workers and the calibration settle, as a kiosk's day
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        process.wait(timeout=30)
    time.sleep(side.restart_secs)
    process, log, started_at = side.start(port)
    stamps: dict[str, float] = {}
    try:
        answered_at = wait_answering(process, http, log, stamps)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    phases = {name: round(stamps[name] - started_at, 2) for name in PHASES if name in stamps}
    phases["answers"] = round(answered_at - started_at, 2)
    loaded = re.search(r"loaded side by side[^:]*: (.*)", log.read_text(errors="replace"))
    listening = re.search(r"listening ([\d.]+) s after the process started",
                          log.read_text(errors="replace"))
    if listening:  # the server's own figure (this tree): from its process's start
        phases["listening_own"] = float(listening.group(1))
    return {"back_secs": round(answered_at - killed_at, 2), "phases_secs": phases,
            "parts": loaded.group(1).strip() if loaded else None, "load1": os.getloadavg()[0]}


def summary(side: Side) -> dict[str, Any]:
    backs = [r["back_secs"] for r in side.rounds]
    names = sorted({n for r in side.rounds for n in r["phases_secs"]},
                   key=lambda n: statistics.median(r["phases_secs"].get(n, 0) for r in side.rounds))
    return {"back_secs_p50": round(statistics.median(backs), 2), "back_secs": backs,
            "phases_p50": {n: round(statistics.median(
                r["phases_secs"][n] for r in side.rounds if n in r["phases_secs"]), 2)
                for n in names},
            "parts": [r["parts"] for r in side.rounds]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4, help="kill -9 and restart, per side")
    parser.add_argument("--against", default=None, help="an earlier commit, alternated with this tree")
    parser.add_argument("--out", type=Path, default=RESULTS / "restart.json")
    args = parser.parse_args()
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be at least 1, got {args.rounds}")
    from agent.bundled_models import smollm2_gguf
    from agent.llm_server import EmbeddedLLMServer

    load_start = load_average()
    llm = EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="smollm2", n_threads=1)
    llm.start()
    try:
        with tempfile.TemporaryDirectory(prefix="restart_") as tmp:
            config = Path(tmp) / "kiosk.toml"
            config.write_text(f'[llm]\nbase_url = "{llm.base_url}"\nmodel = "smollm2"\n')
            sides = [Side("this_tree", ROOT, config, Path(tmp))]
            if args.against:
                sides.insert(0, Side(args.against, baseline_tree(args.against), config,
                                     Path(tmp)))
            for i in range(args.rounds):
                for side in sides[i % len(sides):] + sides[:i % len(sides)]:
                    side.rounds.append(one_round(side))
                    print(f"{side.label}: back in {side.rounds[-1]['back_secs']} s "
                          f"{side.rounds[-1]['phases_secs']}", flush=True)
    finally:
        llm.stop()
    result: dict[str, Any] = {
        "unit": SERVER_UNIT, "restart_sec": {side.label: side.restart_secs for side in sides},
        "rounds": args.rounds,
        "sides": {side.label: summary(side) for side in sides},
        "rows": {side.label: side.rounds for side in sides},
        "load_average_start": load_start, "load_average_end": load_average()}
    if args.against:
        before = result["sides"][args.against]["back_secs_p50"]
        result["ratio"] = round(result["sides"]["this_tree"]["back_secs_p50"] / before, 3)
    write_json(args.out, result)


if __name__ == "__main__":
    main()
