"""fleet.local_cluster: a head and two kiosk nodes on 127.0.0.1, started once for the module.

Real Ray processes (``ray.cluster_utils.Cluster``); the cluster is stopped at the end.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")

from fleet.local_cluster import KIOSK_RESOURCE, LocalFleet, local_fleet


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    # Ray's socket paths must stay short (AF_UNIX limit), so not pytest's deep tmp path.
    temp_dir = Path("/tmp") / f"rfleet-{tmp_path_factory.getbasetemp().name}"
    try:
        with local_fleet(workers=2, temp_dir=str(temp_dir)) as running:
            yield running
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)  # Ray's logs and sockets


def _alive() -> list[dict]:
    import ray
    return [node for node in ray.nodes() if node["Alive"]]


def test_two_kiosk_nodes_and_a_head_without_a_slot(fleet: LocalFleet) -> None:
    assert fleet.address.startswith("127.0.0.1:")
    slots = sorted(node["Resources"].get(KIOSK_RESOURCE, 0.0) for node in _alive())
    assert slots == [0.0, 1.0, 1.0]
    assert {node["NodeManagerAddress"] for node in _alive()} == {"127.0.0.1"}


def test_a_removed_worker_leaves_the_cluster(fleet: LocalFleet) -> None:
    from ray._common.test_utils import wait_for_condition

    fleet.remove_worker(fleet.workers[0])
    # The GCS marks it dead after its health checks fail; the margin is generous.
    wait_for_condition(lambda: len(_alive()) == 2, timeout=60)
    assert sorted(node["Resources"].get(KIOSK_RESOURCE, 0.0) for node in _alive()) == [0.0, 1.0]
    assert len(fleet.workers) == 1
    fleet.add_worker()  # later tests in this module see two kiosk nodes again
    slots = sorted(node["Resources"].get(KIOSK_RESOURCE, 0.0) for node in _alive())
    assert slots == [0.0, 1.0, 1.0]


def test_a_worker_whose_raylet_died_on_its_own_is_forgotten_and_stopped(
        fleet: LocalFleet) -> None:
    import os
    import signal

    from ray._common.test_utils import wait_for_condition
    from ray._private import ray_constants

    node = fleet.workers[0]
    raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process
    others = [info.process for kind, infos in node.all_processes.items()
              if kind != ray_constants.PROCESS_TYPE_RAYLET for info in infos
              if info.process is not None and info.process.poll() is None]
    os.kill(raylet.pid, signal.SIGKILL)  # not through kill_worker: as a raylet that exits
    raylet.wait(timeout=10)
    fleet.forget_dead_worker(node)
    assert node not in fleet.workers and node in fleet.killed
    assert all(process.poll() is not None for process in others)
    wait_for_condition(lambda: len(_alive()) == 2, timeout=60)
    fleet.add_worker()  # later tests in this module see two kiosk nodes again
    assert len(fleet.workers) == 2


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="workers=0"), local_fleet(workers=0):
        pass
