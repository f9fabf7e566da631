"""Sub-commands of the `avatar-forcing` CLI, one module each (see pipelines.cli).

Each module defines `register(subparsers)` that adds a parser whose defaults set
`handler=<callable(argparse.Namespace) -> int>`. Keep the modules thin: parse,
call into agent/, avatar/ or pipelines/, report.
"""
