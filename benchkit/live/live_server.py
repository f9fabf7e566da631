"""The live server under test: built with the product's defaults, run in its own
process (as deployed) or in this one, and how the benches start it.

Why here: bench/live/live.py, bench/live/adapt.py, bench/live/session_churn.py and
bench/kiosk/day_soak.py all measure the same server, started by
`python bench/live/live.py --serve-port PORT ...` in a child process (so the bench
client's own work does not share the server's GIL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchkit.clocks import SERVER
from benchkit.paths import ROOT
from benchkit.server import start_server

#: The script whose `--serve-port` mode runs the server (a child process).
LIVE_SCRIPT = ROOT / "bench" / "live" / "live.py"


def live_script_in(tree: Path) -> Path:
    """bench/live.py of another checkout: bench/live/live.py, or bench/live.py in a
    revision from before the benches moved into area folders (issue 77)."""
    moved = tree / "bench" / "live" / "live.py"
    return moved if moved.is_file() else tree / "bench" / "live.py"


async def build_runtime(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """Models, the embedded LLM, the avatar assets: the product's defaults, warmed up
    (`pipelines.server.app.load_runtime` through benchkit/runtime.py; portraits keep
    the shipped calibration: no background fit takes CPU during a run).

    Returns (runtime, config, llm_server); the caller stops `llm_server` (None for an
    external endpoint).
    """
    from benchkit.live.live_stages import with_stage_marks
    from benchkit.runtime import bench_runtime
    from pipelines.face.face_params import FacePacing
    from pipelines.server.app import ServerConfig
    from pipelines.settings import Settings
    from pipelines.voice_pipeline import TurnParams

    settings = Settings.load(llm={"embedded_model": args.model, "max_tokens": args.max_tokens,
                                  "threads": args.llm_threads,
                                  "batch_threads": args.llm_batch_threads},
                             avatar={"calibrate_portraits": False})
    # the product's knowledge routing (fixed replies, fact notes, answer rules) included
    runtime, llm_server = await bench_runtime(settings)
    # the settings' turn-taking (AVATAR_FORCING_TURNS_* applies, e.g. SEMANTIC_TURN)
    turn = TurnParams.from_section(settings.turns)
    if args.first_phrase_words is not None:  # an A/B of the first TTS chunk's length
        turn = replace(turn, first_phrase_words=args.first_phrase_words,
                       first_clause_min_words=args.first_phrase_words)
    config = ServerConfig(turn=turn, send_metrics=True, max_sessions=max(2, args.sessions),
                          face_pacing=FacePacing(worker_nice=args.avatar_nice),
                          adapt_quality=not getattr(args, "no_adapt", False))
    # each turn's stages, when the bench asks (live_stages.MARKS_ENV)
    return runtime, with_stage_marks(config), llm_server


def machine_costs(assets: Any) -> dict[str, float]:
    costs = assets.costs
    return {"render_512": round(costs.render_ms[512], 2),
            "render_256": round(costs.render_ms[256], 2),
            "jpeg_512": round(costs.jpeg_ms[512], 2),
            "block": round(costs.block_ms, 2),
            "camera_analysis": round(costs.analysis_ms, 2)}


def serve(args: argparse.Namespace) -> None:
    """--serve-port: only the server, in this process; one JSON line once it listens."""
    import signal

    from avatar.memory import limit_malloc_arenas, reexec_with_arena_cap

    # as `avatar-forcing serve` does first (pipelines/cli.py): this process is the
    # server's entry, so it re-executes itself with MALLOC_ARENA_MAX set (issue 47),
    # else caps glibc's arenas before any thread of ours allocates
    reexec_with_arena_cap()
    limit_malloc_arenas()

    from pipelines.server.app import create_app, make_server

    async def run() -> None:
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        runtime, config, llm_server = await build_runtime(args)
        try:
            app = create_app(runtime, config)
            server = make_server(app, "127.0.0.1", args.serve_port, config.limits)
            server.config.log_level = "warning"
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    await task
                await asyncio.sleep(0.05)
            llm_pid = llm_server.pid if llm_server is not None else None
            print(json.dumps({"ready": True, "pid": os.getpid(), "llm_pid": llm_pid,
                              "costs": machine_costs(runtime.avatar)}), flush=True)
            await task
        finally:
            if runtime.avatar is not None:
                runtime.avatar.close()  # its face workers and their rings, as `serve` does
            if llm_server is not None:
                llm_server.stop()

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@contextlib.asynccontextmanager
async def server_under_test(args: argparse.Namespace,
                            script: Path = LIVE_SCRIPT) -> Any:
    """Yields (url, llm_pid, costs): a server in its own process (default, as deployed:
    the bench client's own work, decoding the camera clip and receiving video, must
    not share the server's GIL), or in this process with --in-process."""
    import subprocess

    if args.in_process:
        runtime, config, llm_server = await build_runtime(args)
        try:
            url, server, thread = start_server(runtime, config)
            try:
                yield url, (llm_server.pid if llm_server else None), \
                    machine_costs(runtime.avatar)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        finally:
            if llm_server is not None:
                llm_server.stop()
        return
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [sys.executable, str(script), "--serve-port", str(port),
               "--model", args.model, "--max-tokens", str(args.max_tokens),
               "--llm-threads", str(args.llm_threads), "--sessions", str(args.sessions),
               "--llm-batch-threads", str(args.llm_batch_threads),
               "--avatar-nice", str(args.avatar_nice),
               *(["--no-adapt"] if getattr(args, "no_adapt", False) else []),
               *([] if args.first_phrase_words is None
                 else ["--first-phrase-words", str(args.first_phrase_words)])]
    process = await asyncio.to_thread(subprocess.Popen, command, stdout=subprocess.PIPE,
                                      text=True)
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        if not line:
            raise RuntimeError(f"the server process exited ({process.wait()}) before it was ready")
        ready = json.loads(line)
        SERVER["pid"] = ready["pid"]
        yield f"ws://127.0.0.1:{port}/ws", ready["llm_pid"], ready["costs"]
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
