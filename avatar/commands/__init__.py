"""The face's own `avatar-forcing` sub-commands, next to the code they drive.

Model and data tooling (corpus, train, eval, ingest, dialogue-video) and the
offline face tools (analyze, retarget, calibrate) use avatar/ alone, so they live
here rather than beside the server. `pipelines.cli` discovers this package and
`pipelines.commands` alike: each module defines `register(subparsers)` that adds
a parser whose defaults set `handler=<callable(argparse.Namespace) -> int>`.
"""
