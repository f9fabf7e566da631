"""The kiosk fleet on Ray (issue 23): many machines, one front door.

Only this package imports Ray (an import-linter contract holds agent/, avatar/,
pipelines/ and sdk/ to that), so a single kiosk runs without Ray installed. Ray
does the cluster work: placement, health checks and routing stats; we write no
scheduler, heartbeat or registry of our own.

State of the first slice: :mod:`fleet.loopback` (the settings that keep a
one-host cluster's traffic on 127.0.0.1). The per-machine Serve deployment, the
front door, drain and the shared LLM pool are still to come (see the issue).
"""
