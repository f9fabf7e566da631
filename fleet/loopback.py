"""Keep a Ray cluster's traffic on 127.0.0.1 (one-host clusters: tests, a single box).

Why this exists (measured in docs/history/fleet_groundwork_2026-11-23.md, Ray 2.60):

* Ray rewrites the literal ``127.0.0.1`` to the address a UDP socket "to 8.8.8.8"
  would use, unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` is in the environment
  *before* ``import ray``; a driver then dials an address nothing listens on and
  hangs. The flag is inherited by every Ray process started from here.
* Each Serve replica binds its inter-deployment gRPC server to ``[::]:0``, a
  wildcard listen that no setting changes. :func:`bind_replica_grpc_to_loopback`
  runs as Ray's worker-process setup hook and rebinds it to 127.0.0.1.

On real separate machines neither is needed: give each node its private address
(``--node-ip-address``) and firewall the Ray ports; only the front door is public.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from avatar.memory import ARENA_MAX

LOOPBACK = "127.0.0.1"
CLUSTER_FLAG = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
_WILDCARD_ANY_PORT = "[::]:0"
# Ray reads this (internal) variable in every new worker process and calls the
# named function before user code. Setting it per actor is the only form we saw
# take effect for Serve replicas; runtime_env's worker_process_setup_hook key is
# converted to it only at ray.init().
SETUP_HOOK_ENV = "__RAY_WORKER_PROCESS_SETUP_HOOK_ENV_VAR"
SETUP_HOOK = f"{__name__}.bind_replica_grpc_to_loopback"


def prepare_environment() -> None:
    """Set the flag that stops Ray rewriting 127.0.0.1; must run before ``import ray``.

    Raises:
        RuntimeError: Ray is already imported, so the flag would be read too late.
    """
    if "ray" in sys.modules and os.environ.get(CLUSTER_FLAG) != "0":
        raise RuntimeError(
            f"fleet.loopback.prepare_environment() must run before `import ray` "
            f"(or set {CLUSTER_FLAG}=0 in the environment): Ray reads it at import"
        )
    os.environ[CLUSTER_FLAG] = "0"
    # Without it, every start asks about usage statistics and may phone home.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def replica_runtime_env() -> dict[str, Any]:
    """The ``runtime_env`` for the fleet's Serve replicas: they listen on loopback only,
    and glibc caps their malloc arenas from the process's first instruction.

    Why the arenas here: a Ray worker's own threads allocate before any of
    our code is imported, so `avatar.memory.limit_malloc_arenas` (a `mallopt` the
    plain server makes first thing) comes too late in a replica, which then keeps up
    to 8 arenas per core, each holding the high-water mark of what passed through it
    (avatar/memory.py). glibc reads `MALLOC_ARENA_MAX` at start-up; an operator's own value,
    set where the fleet is started, is passed on instead.
    """
    arenas = os.environ.get("MALLOC_ARENA_MAX", str(ARENA_MAX))
    return {"env_vars": {SETUP_HOOK_ENV: SETUP_HOOK, "MALLOC_ARENA_MAX": arenas}}


def loopback_address(address: str) -> str:
    """``[::]:0`` becomes ``127.0.0.1:0``; any other address is left as the caller gave it."""
    return f"{LOOPBACK}:0" if address == _WILDCARD_ANY_PORT else address


def bind_replica_grpc_to_loopback() -> None:
    """Worker setup hook: make Serve's replica gRPC server listen on 127.0.0.1, not ``[::]``.

    Wraps the ``add_port_to_grpc_server`` that ``ray.serve._private.replica`` imported,
    so TLS (``RAY_USE_TLS``) is still honoured by Ray's own helper. Idempotent.
    """
    from ray.serve._private import replica

    original: Callable[[Any, str], int] = replica.add_port_to_grpc_server
    if getattr(original, "_fleet_loopback", False):
        return

    def add_port_on_loopback(server: Any, address: str) -> int:
        return original(server, loopback_address(address))

    add_port_on_loopback._fleet_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = add_port_on_loopback  # type: ignore[assignment]
