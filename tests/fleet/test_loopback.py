"""fleet.loopback: Serve's replica gRPC server listens on 127.0.0.1 once the hook ran.

No cluster: the hook is applied in this process and a real gRPC server is bound
through Serve's own replica module, then the kernel's listen table says where.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("ray.serve")

from fleet import loopback  # noqa: E402


def _listen_addresses(port: int) -> set[str]:
    """The local addresses the kernel has a TCP listener on for this port (IPv4 and IPv6)."""
    found: set[str] = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            hex_addr, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(hex_addr)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            address = socket.inet_ntop(family, raw)
            found.add(address.removeprefix("::ffff:"))  # gRPC listens IPv6 with v4-mapped addresses
    return found


def test_wildcard_any_port_becomes_loopback_and_others_stay() -> None:
    assert loopback.loopback_address("[::]:0") == "127.0.0.1:0"
    assert loopback.loopback_address("10.0.0.5:9000") == "10.0.0.5:9000"


async def test_replica_grpc_server_listens_on_loopback_only() -> None:
    # async: grpc.aio builds its server on the running loop. A sync test only found
    # one when an earlier test in the same run had left it set (CI's order did not).
    from ray.serve._private import replica

    original = replica.add_port_to_grpc_server
    unpatched = grpc.aio.server()
    servers = [unpatched]
    try:
        wildcard_port = original(unpatched, "[::]:0")
        assert _listen_addresses(wildcard_port) & {"::", "0.0.0.0"}, "Serve's own bind is a wildcard"
        loopback.bind_replica_grpc_to_loopback()
        loopback.bind_replica_grpc_to_loopback()  # idempotent: wraps once
        server = grpc.aio.server()
        servers.append(server)
        port = replica.add_port_to_grpc_server(server, "[::]:0")
        assert port > 0
        assert _listen_addresses(port) == {"127.0.0.1"}
    finally:
        replica.add_port_to_grpc_server = original
        for each in servers:
            await each.stop(None)


def test_replica_runtime_env_names_the_hook() -> None:
    env = loopback.replica_runtime_env()["env_vars"]
    assert env[loopback.SETUP_HOOK_ENV] == "fleet.loopback.bind_replica_grpc_to_loopback"
    # issue 47: a replica's malloc arenas are capped from its start (avatar/memory.py)
    assert env["MALLOC_ARENA_MAX"] == os.environ.get("MALLOC_ARENA_MAX", "2")
