"""Where the server's processes run: the priority and core-pinning experiment of issue 36.

bench/live/adapt.py asks whether giving the face a better place on a busy 2-core
machine helps: the embedded LLM server niced (it answers a turn a little later,
the face draws on time), or the face workers pinned to one core (fewer
migrations, a warm cache). Neither needs privileges: a process may lower its
own children's priority and narrow their cores. `Placement` applies the
choice every half second to whatever processes exist then, because the face
workers come and go (a fresh one for each session, another after a crash).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from avatar.procfs import command_line, descendants, thread_ids


def _threads(pid: int) -> list[int]:
    """Every thread of `pid` (Linux schedules threads: a process's nice is per thread)."""
    return thread_ids(pid)


def _nice_at_least(tid: int, nice: int) -> None:
    """Lower a thread's priority to `nice` unless it is lower already (the
    calibrator runs at 19); never raises it, which needs privileges."""
    with contextlib.suppress(OSError):  # a thread that just ended
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)


def embedded_llm_pid(server_pid: int) -> int | None:
    """The embedded LLM server below `server_pid` (its command line names a
    --model_alias, agent/llm_server.py), or None."""
    for pid in descendants(server_pid):
        if "--model_alias" in " ".join(command_line(pid)):
            return pid
    return None


@dataclass(frozen=True)
class Placement:
    """`llm_nice` / `face_nice`: the LLM server's / the face workers' nice (0: as
    started); `face_cpu`: the one core the face workers run on (None: any)."""

    llm_nice: int = 0
    face_nice: int = 0
    face_cpu: int | None = None

    @property
    def label(self) -> str:
        parts = ([f"llm nice +{self.llm_nice}"] if self.llm_nice else []) + (
            [f"faces nice +{self.face_nice}"] if self.face_nice else []) + (
            [f"faces on cpu {self.face_cpu}"] if self.face_cpu is not None else [])
        return ", ".join(parts) or "as started"

    def apply(self, server_pid: int, llm_pid: int | None) -> None:
        """Nice the LLM server's threads; nice and pin every other process below
        the server (the face workers, their fork server, the calibrator)."""
        if self.llm_nice and llm_pid is not None:
            for tid in _threads(llm_pid):
                _nice_at_least(tid, self.llm_nice)
        if self.face_nice or self.face_cpu is not None:
            llm_tree = {llm_pid, *descendants(llm_pid)} if llm_pid is not None else set()
            for pid in descendants(server_pid):
                if pid in llm_tree:
                    continue
                for tid in _threads(pid):
                    if self.face_nice:
                        _nice_at_least(tid, self.face_nice)
                    if self.face_cpu is not None:
                        with contextlib.suppress(OSError):  # a thread that just ended
                            os.sched_setaffinity(tid, {self.face_cpu})

    @contextlib.asynccontextmanager
    async def kept(self, server_pid: int, llm_pid: int | None) -> AsyncIterator[None]:
        """Apply the placement now and every half second until the block ends."""
        if not self.llm_nice and not self.face_nice and self.face_cpu is None:
            yield
            return

        async def keep() -> None:
            while True:
                self.apply(server_pid, llm_pid)
                await asyncio.sleep(0.5)

        task = asyncio.create_task(keep())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def add_placement_arguments(parser: argparse.ArgumentParser) -> None:
    """--llm-nice, --face-nice and --face-cpu, for a bench that runs the server."""
    parser.add_argument("--llm-nice", type=int, default=0,
                        help="nice the embedded LLM server by this (the placement experiment)")
    parser.add_argument("--face-nice", type=int, default=0,
                        help="nice the face workers by this (the placement experiment)")
    parser.add_argument("--face-cpu", type=int, default=None,
                        help="pin the face workers to this core (the placement experiment)")


def placement_from(args: argparse.Namespace) -> Placement:
    """The placement `add_placement_arguments`' flags ask for."""
    return Placement(llm_nice=args.llm_nice, face_nice=args.face_nice, face_cpu=args.face_cpu)
