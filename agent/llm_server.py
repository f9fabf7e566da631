"""The embedded LLM: `python -m llama_cpp.server` as a supervised subprocess.

It runs through agent/llama_cpp_server.py, which is llama-cpp-python's server plus
one route that reads the next token's probabilities (the end-of-turn reading of
agent/turn_end_text.py); every other route and flag is the stock server's.

Why a subprocess and not `llama_cpp.Llama` in-process: the server speaks the
OpenAI API, so the pipeline uses the same `openai` client for the embedded model
and for any external endpoint; llama.cpp's long C calls never hold our event loop
or GIL; and a crash in native code cannot take the avatar down with it.

Lifecycle guarantees: `start()` returns only once `/v1/models` answers (or raises
`LLMServerError` with the tail of the server's log); `stop()` is idempotent
(SIGTERM, then SIGKILL); live servers are stopped at interpreter exit, and on
Linux the child also gets SIGTERM if our process dies without running atexit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO, NamedTuple

from agent.bundled_models import EmbeddedModelName, embedded_gguf
from agent.errors import LLMServerError
from agent.settings import LLMSettings

_LIVE_SERVERS: weakref.WeakSet[EmbeddedLLMServer] = weakref.WeakSet()
_PR_SET_PDEATHSIG = 1


def _stop_all_live_servers() -> None:
    for server in list(_LIVE_SERVERS):
        server.stop()


atexit.register(_stop_all_live_servers)


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (a tiny race remains; start() reports it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Ask Linux to SIGTERM the server when the process that spawned it dies.

    Note PR_SET_PDEATHSIG tracks the spawning *thread*: spawn from a long-lived
    thread (we spawn in the caller's thread, never in a short-lived worker).
    """
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedLLMServer:
    """A local OpenAI-compatible llama.cpp server for one GGUF model.

    Flags are tuned for first-token latency on a 2-core CPU: a small context, no
    mlock, no logits kept for every position (that alone is n_ctx x vocab floats),
    and requests that queue instead of interrupting each other (several sessions
    may share the server). llama.cpp reuses the KV cache of the longest common
    prompt prefix, so the persona + knowledge are evaluated once, not on every turn.

    `prompt_cache_mb` > 0 adds llama-cpp-python's RAM cache of prompt states: the
    state after every request is saved, and a new request whose longest saved
    prefix beats the live one restores it (17 ms for the 650-token kiosk prompt)
    instead of reading it (~10 ms a token). That is what makes a fact note in
    front of a question free (agent/answers/routing.py). Each saved state also
    copies n_batch x vocab logits floats, so the batch is 32 (measured as fast as
    512 at reading the prompt on one thread: 65 vs 69 tokens/s; a state saves in
    21 ms and restores in 17 ms, against 0.8 s and 1.6 s with the 311 MB of logits
    a 512 batch carries).
    """

    def __init__(
        self,
        *,
        model_path: Path,
        model_alias: str,
        n_ctx: int = 2048,
        n_threads: int = 1,
        n_threads_batch: int | None = None,
        n_batch: int = 32,
        prompt_cache_mb: int = 0,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout_s: float = 90.0,
        python: str = sys.executable,
    ) -> None:
        model_path = Path(model_path)
        if not model_path.is_file():
            raise FileNotFoundError(f"GGUF model not found: {model_path}")
        n_threads_batch = n_threads if n_threads_batch is None else n_threads_batch
        if n_ctx < 64 or n_threads < 1 or n_threads_batch < 1 or n_batch < 1:
            raise ValueError("n_ctx must be >= 64, n_threads, n_threads_batch and n_batch >= 1")
        if startup_timeout_s <= 0:
            raise ValueError("startup_timeout_s must be positive")
        if prompt_cache_mb < 0:
            raise ValueError("prompt_cache_mb must be >= 0")
        self.model_path = model_path
        self.model_alias = model_alias
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_threads_batch = n_threads_batch
        self.n_batch = n_batch
        self.prompt_cache_mb = prompt_cache_mb
        self.host = host
        self._requested_port = port
        self.port: int = port or 0
        self.startup_timeout_s = startup_timeout_s
        self.python = python
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._lock = threading.Lock()

    # --- construction -----------------------------------------------------------
    @classmethod
    def from_settings(
        cls, llm: LLMSettings, *, video: bool = True, cache_dir: Path | None = None
    ) -> EmbeddedLLMServer:
        """A server for `llm.embedded_model` with the settings' context and threads
        (`video`: the server also renders the avatar, which sets the default threads)."""
        name: EmbeddedModelName = llm.embedded_model
        return cls(
            model_path=embedded_gguf(name, cache_dir),
            model_alias=llm.model or name,
            n_ctx=llm.context_tokens,
            n_threads=llm.thread_count(video=video),
            n_threads_batch=llm.batch_thread_count(video=video),
            prompt_cache_mb=llm.prompt_cache_mb,
            startup_timeout_s=llm.startup_timeout_s,
        )

    # --- properties -------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """OpenAI base URL (ends in /v1); valid once started."""
        if not self.port:
            raise LLMServerError("the embedded LLM server has not been started")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def is_running(self) -> bool:
        """True while the subprocess is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id (for diagnostics and tests)."""
        return self._process.pid if self._process is not None else None

    def command(self) -> list[str]:
        """The exact command line the server runs with."""
        flags = {
            "--model": str(self.model_path),
            "--model_alias": self.model_alias,
            "--host": self.host,
            "--port": str(self.port),
            "--n_ctx": str(self.n_ctx),
            "--n_batch": str(self.n_batch),
            "--n_ubatch": str(self.n_batch),
            "--n_threads": str(self.n_threads),
            "--n_threads_batch": str(self.n_threads_batch),
            "--use_mlock": "false",
            "--logits_all": "false",
            "--interrupt_requests": "false",
            "--verbose": "false",
        }
        if self.prompt_cache_mb:
            flags |= {"--cache": "true", "--cache_type": "ram",
                      "--cache_size": str(self.prompt_cache_mb << 20)}
        return [self.python, "-m", "agent.llama_cpp_server",
                *(x for kv in flags.items() for x in kv)]

    def log_tail(self, max_chars: int = 2000) -> str:
        """The last lines the server wrote (stdout+stderr), for error messages."""
        if self._log is None:
            return ""
        try:
            self._log.flush()
            with open(self._log.name, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(max(0, handle.tell() - max_chars))
                return handle.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    # --- lifecycle --------------------------------------------------------------
    def _spawn(self) -> None:
        with self._lock:
            if self._process is not None:
                raise LLMServerError("the embedded LLM server was already started")
            self.port = self._requested_port or free_port(self.host)
            # A file, not a pipe: a pipe nobody reads fills up and blocks the server.
            self._log = tempfile.NamedTemporaryFile(  # closed in stop()
                prefix="avatar-forcing-llm-", suffix=".log", delete=False
            )
            threads = max(self.n_threads, self.n_threads_batch)
            env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=str(threads))
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            _LIVE_SERVERS.add(self)

    def _probe(self, timeout_s: float) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=timeout_s) as reply:
                body = json.loads(reply.read() or b"{}")
                return reply.status == 200 and isinstance(body.get("data"), list)
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            process = self._process
            if process is None:
                raise LLMServerError("the embedded LLM server was stopped while starting")
            if process.poll() is not None:
                tail = self.log_tail()
                code = process.returncode
                self.stop()
                raise LLMServerError(
                    f"the embedded LLM server ({self.model_path.name}) exited with code "
                    f"{code} while starting. Its log ends with:\n{tail}"
                )
            if self._probe(timeout_s=1.0):
                return
            time.sleep(0.1)
        tail = self.log_tail()
        self.stop()
        raise LLMServerError(
            f"the embedded LLM server ({self.model_path.name}) was not healthy after "
            f"{self.startup_timeout_s:.0f} s. Its log ends with:\n{tail}"
        )

    def start(self) -> EmbeddedLLMServer:
        """Spawn the server and block until it answers `/v1/models`."""
        self._spawn()
        self._wait_healthy()
        return self

    async def astart(self) -> EmbeddedLLMServer:
        """Async `start()`: spawn in this thread, wait for health in a worker thread."""
        self._spawn()
        try:
            await asyncio.to_thread(self._wait_healthy)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate, then kill after `timeout_s`; safe to call any number of times."""
        with self._lock:
            process, self._process = self._process, None
            log, self._log = self._log, None
            _LIVE_SERVERS.discard(self)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        if log is not None:
            log.close()
            Path(log.name).unlink(missing_ok=True)

    async def astop(self, timeout_s: float = 5.0) -> None:
        """Async `stop()` so waiting for the process never blocks the event loop."""
        await asyncio.to_thread(self.stop, timeout_s)

    # --- context managers -------------------------------------------------------
    def __enter__(self) -> EmbeddedLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmbeddedLLMServer:
        return await self.astart()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.astop()

    def __repr__(self) -> str:
        state = f"running pid={self.pid} port={self.port}" if self.is_running else "stopped"
        return f"EmbeddedLLMServer({self.model_path.name!r}, {state})"


class LLMEndpoint(NamedTuple):
    """Where to send chat requests; `server` is the embedded server to stop, or None."""

    base_url: str
    api_key: str
    model: str
    server: EmbeddedLLMServer | None


def resolve_llm_endpoint(
    llm: LLMSettings, *, video: bool = True, cache_dir: Path | None = None
) -> LLMEndpoint:
    """Use the configured endpoint, or start the embedded server (the caller stops it;
    `video` as for `EmbeddedLLMServer.from_settings`).

    Returns `(base_url, api_key, model, server_or_None)`; blocks while a server loads.
    """
    if llm.base_url is not None:
        return LLMEndpoint(llm.base_url, llm.api_key, llm.model, None)
    server = EmbeddedLLMServer.from_settings(llm, video=video, cache_dir=cache_dir).start()
    return LLMEndpoint(server.base_url, llm.api_key, server.model_alias, server)


async def aresolve_llm_endpoint(
    llm: LLMSettings, *, video: bool = True, cache_dir: Path | None = None
) -> LLMEndpoint:
    """Async `resolve_llm_endpoint` (the Qwen join and model load run off the loop)."""
    if llm.base_url is not None:
        return LLMEndpoint(llm.base_url, llm.api_key, llm.model, None)
    if llm.embedded_model == "qwen2.5-0.5b":
        # The one-time join copies ~480 MB: keep it off the event loop.
        await asyncio.to_thread(embedded_gguf, llm.embedded_model, cache_dir)
    server = await EmbeddedLLMServer.from_settings(llm, video=video, cache_dir=cache_dir).astart()
    return LLMEndpoint(server.base_url, llm.api_key, server.model_alias, server)
