"""The allocator cap a server starts with (avatar/memory.py, issues 27 and 47)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from avatar.memory import REEXEC_MARK, arena_cap_environment

ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

#: a process that re-executes itself, then reports its environment and command line
PROBE = """
import json, os, sys
from avatar.memory import reexec_with_arena_cap
print("started", flush=True)
reexec_with_arena_cap()
print(json.dumps({"arenas": os.environ.get("MALLOC_ARENA_MAX"),
                  "argv": sys.argv[1:], "warn": sys.warnoptions}), flush=True)
"""


def _run_probe(env: dict[str, str]) -> tuple[int, dict[str, object]]:
    result = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c", PROBE,
                             "--flag", "value"], env=env, capture_output=True, text=True,
                            timeout=60, check=True)
    lines = result.stdout.splitlines()
    return lines.count("started"), json.loads(lines[-1])


@pytest.mark.skipif(not ON_GLIBC, reason="glibc only: the arena cap is a no-op elsewhere")
def test_a_server_entry_restarts_itself_once_with_the_arena_cap_and_its_command_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", REEXEC_MARK)}
    starts, seen = _run_probe(env)
    assert starts == 2                    # the original process, then the re-executed one
    assert seen["arenas"] == "2"
    assert seen["argv"] == ["--flag", "value"]                 # arguments kept
    assert seen["warn"] == ["ignore::DeprecationWarning"]      # interpreter flags kept


def test_an_operators_own_arena_setting_wins_and_nothing_restarts() -> None:
    env = {**os.environ, "MALLOC_ARENA_MAX": "4"}
    env.pop(REEXEC_MARK, None)
    starts, seen = _run_probe(env)
    assert starts == 1
    assert seen["arenas"] == "4"
    assert arena_cap_environment(env) is None


@pytest.mark.skipif(not ON_GLIBC, reason="glibc only: the arena cap is a no-op elsewhere")
def test_the_capped_environment_is_asked_for_only_once() -> None:
    bare = {"PATH": "/usr/bin"}
    capped = arena_cap_environment(bare)
    assert capped is not None and capped["MALLOC_ARENA_MAX"] == "2"
    assert capped["PATH"] == "/usr/bin"
    # a re-executed process whose cap was somehow dropped does not loop
    assert arena_cap_environment({**bare, REEXEC_MARK: "1"}) is None
