"""The kiosk fleet on Ray: many machines, one front door (docs/FLEET.md).

Only this package imports Ray (an import-linter contract holds agent/, avatar/,
pipelines/ and sdk/ to that), so a single kiosk runs without Ray installed. Ray
does the cluster work: placement, health checks, routing stats, node drain and
metrics export; we write no scheduler, heartbeat or registry of our own.

Why a top-level package and not pipelines/fleet/: the fleet sits above the
product's composition root (it wraps `load_runtime`/`create_app` per machine), and
pipelines/ must run without Ray; a package above it keeps that a one-way arrow.

* :mod:`fleet.kiosk_replica`: one kiosk machine = one Serve replica of the product's server
  (proxy door + direct media door), admission by its live capacity measure;
* :mod:`fleet.router`: Serve's request router ranking machines by free slots;
* :mod:`fleet.llm_pool`: the shared LLM, embedded llama.cpp servers as a deployment;
* :mod:`fleet.front`: `GET /fleet` (status) and `GET /fleet/session` (direct URL);
* :mod:`fleet.drain`: take a machine out of service through Ray's node drain;
* :mod:`fleet.launch`, :mod:`fleet.commands`: `avatar-forcing fleet up|status|drain|down`;
* :mod:`fleet.settings`: the `[fleet]` table of a fleet config file;
* :mod:`fleet.loopback`, :mod:`fleet.local_cluster`: a one-host cluster kept on 127.0.0.1.
"""
