"""The library under bench/: what the bench scripts share, so each script stays a thin
`main()` that says which figure it produces (issue 24).

Why a package: the scripts used to import one another by editing sys.path, and the
shared code (a live microphone and session log, A/V analysis, plots, the real-media
fetchers, the runtime builder) hid in 1,000-line scripts. Installed with the project
(pyproject's packages), so `from benchkit.x import y` works from any directory and
nothing edits sys.path. Nothing in agent/, avatar/, pipelines/ or sdk/ imports it
(an import-linter contract); tests may.

Layout (issue 77), as bench/: a subpackage per area (face, live, voice, answers,
kiosk, webrtc, fleet, training) holds what that area's scripts share, and a module
one script alone uses sits beside that script's area; the modules at the top are
shared by several areas (paths, stats, load, clocks, the visitor's speech, the
real media, the browser's fake media, the pipecat sink, the revision tree, the
runtime and server builders). Modules only tests used moved to tests/. No module
imports one that imports it back (tests/bench/test_import_circles.py).
"""
