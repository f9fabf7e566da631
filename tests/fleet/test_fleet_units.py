"""The fleet's pure parts: the config file's [fleet] table and the free-slots router."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import pytest

from fleet.machines import choose_machine, reserve_slots
from fleet.router import FreeSlotsRouter
from fleet.settings import FleetSettings, load_fleet_config
from pipelines.settings import SettingsError


def test_a_fleet_file_is_the_machine_settings_plus_a_fleet_table(tmp_path: Path) -> None:
    config = tmp_path / "fleet.toml"
    config.write_text('[server]\nauth_token = "s3cret"\n[llm]\nembedded_model = "smollm2"\n'
                      "[fleet]\nport = 8800\nkiosk_machines = 3\nllm_replicas = 2\n")
    fleet, settings = load_fleet_config(config)
    assert (fleet.port, fleet.kiosk_machines, fleet.llm_replicas) == (8800, 3, 2)
    assert settings.server.auth_token == "s3cret"
    assert settings.llm.embedded_model == "smollm2"
    assert load_fleet_config(None)[0] == FleetSettings()


def test_fleet_file_mistakes_are_named(tmp_path: Path) -> None:
    typo = tmp_path / "typo.toml"
    typo.write_text("[fleet]\nkiosk_machine = 3\n")
    with pytest.raises(pydantic.ValidationError, match="kiosk_machine"):
        load_fleet_config(typo)
    flat = tmp_path / "flat.toml"
    flat.write_text("port = 8766\n[fleet]\nport = 8800\n")
    with pytest.raises(SettingsError, match=r"\[server\]"):
        load_fleet_config(flat)
    with pytest.raises(FileNotFoundError):
        load_fleet_config(tmp_path / "missing.toml")


@dataclass
class Replica:
    """What the router reads of a Serve replica: its id and its routing stats."""

    replica_id: str
    routing_stats: dict[str, Any] = field(default_factory=dict)


def _router() -> FreeSlotsRouter:
    router = FreeSlotsRouter.__new__(FreeSlotsRouter)  # no Serve controller here
    router.initialize_state()
    return router


def test_the_machine_with_most_room_comes_first_and_full_ones_last() -> None:
    router = _router()
    a, b, c = Replica("a", {"free": 1}), Replica("b", {"free": 3}), Replica("c", {"free": 0})
    ranks = asyncio.run(router.choose_replicas([a, b, c]))  # type: ignore[list-item]
    assert [[r.replica_id for r in rank] for rank in ranks] == [["b"], ["a"], ["c"]]


def test_connections_routed_since_the_last_stats_count_against_a_machine() -> None:
    router = _router()
    a, b = Replica("a", {"free": 2}), Replica("b", {"free": 1})
    for _ in range(2):  # two quick connects, before the machines report again
        first = asyncio.run(router.choose_replicas([a, b]))[0][0]  # type: ignore[list-item]
        router.on_request_routed(None, first.replica_id, None)  # type: ignore[arg-type]
    ranks = asyncio.run(router.choose_replicas([a, b]))  # type: ignore[list-item]
    # a had 2 and took both: b (1 free) is now the only one with room
    assert [r.replica_id for r in ranks[0]] == ["b"]
    assert [r.replica_id for r in ranks[-1]] == ["a"]


def test_a_routed_connection_counts_until_the_machines_stats_are_taken_after_it() -> None:
    router = _router()
    a = Replica("a", {"free": 1, "sessions": 0, "uptime_secs": 50.0})
    now = time.monotonic()
    assert router.free(a, now) == 1  # type: ignore[arg-type]
    router.on_request_routed(None, "a", None)  # type: ignore[arg-type]
    # a busy box: 3 s later the router still holds stats taken before the routing
    a.routing_stats = {"free": 1, "sessions": 0, "uptime_secs": 51.0}
    assert router.free(a, now + 3.0) == 0  # type: ignore[arg-type]
    # stats taken 2 s after those the router had: the session is in them (or never came)
    a.routing_stats = {"free": 0, "sessions": 1, "uptime_secs": 52.1}
    assert router.free(a, now + 3.5) == 0  # type: ignore[arg-type]
    a.routing_stats = {"free": 1, "sessions": 0, "uptime_secs": 53.0}  # the visitor left
    assert router.free(a, now + 4.0) == 1  # type: ignore[arg-type]
    # a machine whose stats never come again does not keep a routing for ever
    router.on_request_routed(None, "a", None)  # type: ignore[arg-type]
    assert router.free(a, now + 40.0) == 1  # type: ignore[arg-type]


def test_a_draining_or_full_fleet_still_routes_so_a_machine_can_answer_1013() -> None:
    router = _router()
    ranks = asyncio.run(router.choose_replicas(  # type: ignore[list-item]
        [Replica("a", {"free": 0}), Replica("b", {"free": 0, "draining": True})]))
    assert len(ranks) == 1 and {r.replica_id for r in ranks[0]} == {"a", "b"}


def test_of_machines_with_equal_room_the_emptier_one_goes_first() -> None:
    machines = [{"node_id": "a", "sessions": 1, "free": 1, "draining": False},
                {"node_id": "b", "sessions": 0, "free": 1, "draining": False}]
    assert choose_machine(machines)["node_id"] == "b"
    router = _router()
    a, b = Replica("a", {"free": 1, "sessions": 1}), Replica("b", {"free": 1, "sessions": 0})
    ranks = asyncio.run(router.choose_replicas([a, b]))  # type: ignore[list-item]
    assert [[r.replica_id for r in rank] for rank in ranks] == [["b"], ["a"]]


def test_spare_slots_are_kept_for_clients_back_after_a_drop() -> None:
    machines = [{"node_id": "a", "free": 1, "draining": False},
                {"node_id": "b", "free": 2, "draining": False},
                {"node_id": "c", "free": 5, "draining": True}]
    assert choose_machine(machines)["node_id"] == "b"  # most room; a draining one never
    assert choose_machine(machines, reserve=2)["node_id"] == "b"  # 3 free, 2 kept
    assert choose_machine(machines, reserve=3) is None  # a new visitor: full
    assert choose_machine(machines, reserve=3, resuming=True)["node_id"] == "b"
    full = [{"node_id": "a", "free": 0, "draining": False}]
    assert choose_machine(full, resuming=True) is None  # no slot at all: full for everyone


def test_one_machines_reserve_is_what_the_largest_live_machine_holds() -> None:
    machines = [{"node_id": "a", "sessions": 1, "free": 0, "draining": False},
                {"node_id": "b", "sessions": 0, "free": 2, "draining": False},
                {"node_id": "c", "sessions": 0, "free": 1, "draining": False}]
    assert reserve_slots(machines, "one_machine") == 2 and reserve_slots(machines, 1) == 1
    assert reserve_slots([], "one_machine") == 0
    # 3 free, 2 kept: one more visitor; then 2 free: only a client back after a drop
    assert choose_machine(machines, reserve=2)["node_id"] == "b"
    machines[1] |= {"sessions": 1, "free": 1}
    assert choose_machine(machines, reserve=reserve_slots(machines, "one_machine")) is None
    assert choose_machine(machines, reserve=2, resuming=True) is not None


def test_a_reserve_is_a_fleet_setting_that_cannot_be_negative(tmp_path: Path) -> None:
    assert FleetSettings().failover_reserve_slots == 0
    assert FleetSettings(failover_reserve_slots=2).failover_reserve_slots == 2
    config = tmp_path / "fleet.toml"
    config.write_text('[fleet]\nfailover_reserve_slots = "one_machine"\n')
    assert load_fleet_config(config)[0].failover_reserve_slots == "one_machine"
    for bad in (-1, "two_machines"):
        with pytest.raises(pydantic.ValidationError, match="failover_reserve_slots"):
            FleetSettings(failover_reserve_slots=bad)


def test_the_fleet_command_is_found_through_its_entry_point() -> None:
    from pipelines.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["fleet", "drain", "4f2a", "--timeout", "30"])
    assert (args.command, args.action, args.node, args.timeout) == ("fleet", "drain", "4f2a", 30.0)
    assert parser.parse_args(["fleet", "up", "--local", "2"]).local == 2


def test_a_replica_past_its_memory_ceiling_refuses_newcomers_and_restarts_when_empty(
        tmp_path: Path) -> None:
    """Issue 47's safety net: over `[fleet] recycle_above_mb` the replica (read here:
    this test process's real PSS) takes no new conversation, keeps its live ones, and
    fails its health check only once they have ended or the drain time is up."""
    import os
    import time

    from fleet.memory_ceiling import MemoryCeiling, tree_pss_mb

    own = tree_pss_mb(os.getpid())
    assert own > 10  # a real reading of a Python process with numpy
    roomy = MemoryCeiling(own * 100, read_mb=lambda: tree_pss_mb(os.getpid()))
    roomy.check(ended_sessions=1)
    assert not roomy.recycling and roomy.refusal(5.0) is None
    assert roomy.why_unhealthy(sessions=0) is None
    off = MemoryCeiling(None, read_mb=lambda: tree_pss_mb(os.getpid()))
    off.check(ended_sessions=1)
    assert not off.recycling  # no ceiling set: never

    tight = MemoryCeiling(own / 2, read_mb=lambda: tree_pss_mb(os.getpid()),
                          drain_timeout_secs=0.3)
    tight.check(ended_sessions=0)  # a fresh replica: a restart would give the same
    assert not tight.recycling and tight.warned
    tight.check(ended_sessions=1)
    assert tight.recycling
    assert "restarting to give back memory" in (tight.refusal(5.0) or "")
    assert tight.why_unhealthy(sessions=1) is None  # a visitor is mid-conversation
    assert "recycle_above_mb" in (tight.why_unhealthy(sessions=0) or "")
    time.sleep(0.4)  # the drain time is up: restart even with someone left
    assert tight.why_unhealthy(sessions=1) is not None

    config = tmp_path / "fleet.toml"
    config.write_text("[fleet]\nrecycle_above_mb = 3000\n")
    assert load_fleet_config(config)[0].recycle_above_mb == 3000
    config.write_text("[fleet]\nrecycle_above_mb = -1\n")
    with pytest.raises(pydantic.ValidationError, match="recycle_above_mb"):
        load_fleet_config(config)
