"""The fleet's own settings: the `[fleet]` table of a fleet config file.

A fleet config is the one machine's config (docs/CONFIG.md: `[server]`, `[llm]`,
`[avatar]` ...) plus a `[fleet]` table; every kiosk machine runs those settings, and
the `[fleet]` table says how many machines, where the public door is and how the
shared LLM is scaled. Keeping it a separate table keeps `pipelines/` unaware of Ray.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipelines.settings import Settings

FLEET_TABLE = "fleet"


class FleetSettings(BaseModel):
    """How the fleet is laid out (`[fleet]` in the config file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(default="127.0.0.1", description="Public address of the front door "
                      "(Ray Serve's proxy); the only port kiosks and clients reach.")
    port: int = Field(default=8765, ge=1, le=65535, description="Public port of the front door.")
    proxies: Literal["head", "every_node"] = Field(
        default="head", description="Where Serve's proxy (the public door) runs: on the head "
        "only, or on every node with a replica, each on `host`:`port` behind your load "
        "balancer, so the door outlives the head (docs/FLEET.md, \"The head\"). `every_node` "
        "needs one address per node: not on a one-host cluster.")
    kiosk_machines: int = Field(default=1, ge=1, description="Kiosk replicas: one per machine "
                                "that carries the `kiosk` resource (`ray start --resources`).")
    kiosk_resource: str = Field(default="kiosk", description="Ray resource a kiosk machine has.")
    direct_media: bool = Field(default=True, description="`GET /session` hands a client the "
                               "direct door of the machine with most room (media skip the "
                               "proxy hop: docs/FLEET.md); False: everything goes through "
                               "the public door.")
    direct_port: int = Field(default=0, ge=0, le=65535,
                             description="Port of each machine's direct media door "
                             "(0: any free one; set it to open exactly that port in a firewall).")
    direct_host: str = Field(
        default="{node_ip}", min_length=1,
        description="Host name in each direct door's URL (what `GET /session` hands out), "
        "filled in on each machine: `{node_ip}` its Ray address, `{hostname}`, `{fqdn}`. With "
        "TLS ([server] tls_cert_file) the machine's certificate must name it: `{fqdn}` with "
        "a certificate per machine, `{hostname}.kiosks.example.com` with a wildcard one.")
    llm_replicas: int = Field(default=1, ge=0, description="Embedded LLM servers in the shared "
                              "pool (0: every machine uses [llm] base_url, an external endpoint).")
    llm_resource: str = Field(default="llm", description="Ray resource an LLM machine has.")
    llm_cpus: float = Field(default=1.0, gt=0, description="CPUs one LLM replica reserves.")
    max_sessions_per_machine: int = Field(
        default=16, ge=1, le=64,
        description="A ceiling only: each machine admits what its live capacity "
        "measure allows (avatar/live/capacity.py), never more than this.")
    failover_reserve_slots: int | Literal["one_machine"] = Field(
        default=0,
        description="Slots `GET /session` keeps free for visitors whose machine died: a new "
        "visitor is told the fleet is full while no more than this many slots are free, a "
        "client coming back after a drop (`/session?resume=1`, as both SDKs ask) may take "
        "them. `\"one_machine\"`: as many as the largest live machine holds (its sessions "
        "plus its free slots, measured), the N+1 that lets a dead machine's kiosks have a "
        "face again in seconds instead of waiting for its replacement (docs/FLEET.md, "
        "\"Spare slots\"). 0: none. Clients that open `/ws` on the public door directly "
        "are not held back by it.")
    retry_after_secs: float = Field(default=5.0, gt=0,
                                    description="`retry_after_s` a full fleet's 1013 carries.")
    drain_timeout_secs: float = Field(default=600.0, gt=0,
                                      description="`fleet drain` waits this long for live "
                                      "sessions before it releases the machine anyway.")
    recycle_above_mb: float | None = Field(
        default=None, gt=0,
        description="A kiosk machine whose replica (with its face workers, by PSS) holds "
        "more than this many MB restarts gracefully: it takes no new conversation, lets "
        "the live ones end (at most `drain_timeout_secs`), then Serve replaces it with a "
        "fresh process; the SDKs reconnect (fleet/memory_ceiling.py). A safety net for the "
        "field, not a fix: a day's soak is flat without it (docs/FLEET.md). None: off.")

    @field_validator("failover_reserve_slots")
    @classmethod
    def _check_reserve(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"fleet.failover_reserve_slots must be >= 0 or \"one_machine\", "
                             f"got {value}")
        return value

    @field_validator("direct_host")
    @classmethod
    def _check_direct_host(cls, value: str) -> str:
        try:
            direct_host(value, node_ip="10.0.0.1", hostname="kiosk", fqdn="kiosk.example.com")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"fleet.direct_host {value!r} may hold only {{node_ip}}, "
                             f"{{hostname}} and {{fqdn}}: {error!r}") from None
        return value


def direct_host(template: str, *, node_ip: str, hostname: str, fqdn: str) -> str:
    """`[fleet] direct_host` filled in for one machine.

    Raises:
        KeyError, IndexError, ValueError: the template names another placeholder, or is
            not a valid format string.
    """
    return template.format(node_ip=node_ip, hostname=hostname, fqdn=fqdn)


def load_fleet_config(path: Path | None) -> tuple[FleetSettings, Settings]:
    """The `[fleet]` table and the per-machine `Settings` from one file (or defaults).

    Raises:
        FileNotFoundError, ValueError: as `pipelines.settings.read_config_file`.
        pydantic.ValidationError: a `[fleet]` value is invalid (the message names it).
    """
    if path is None:
        return FleetSettings(), Settings.load()
    table = _fleet_table(Path(path))
    return FleetSettings(**table), Settings.load(Path(path), other_tables=(FLEET_TABLE,))


def _fleet_table(path: Path) -> dict[str, Any]:
    """The file's `[fleet]` table ({} when it has none)."""
    if path.suffix.lower() != ".toml":
        raise ValueError(f"a fleet config must be a .toml file, got {path}")
    if not path.is_file():
        raise FileNotFoundError(f"fleet config not found: {path}")
    with path.open("rb") as handle:
        table = tomllib.load(handle).get(FLEET_TABLE, {})
    if not isinstance(table, dict):
        raise ValueError(f"{path}: `{FLEET_TABLE}` must be a table ([fleet])")
    return table


__all__ = ["FLEET_TABLE", "FleetSettings", "direct_host", "load_fleet_config"]
