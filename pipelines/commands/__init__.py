"""Sub-commands of the `avatar-forcing` CLI that serve and talk, one module each
(see pipelines.cli; the face's tooling is in avatar.commands).

Each module defines `register(subparsers)` that adds a parser whose defaults set
`handler=<callable(argparse.Namespace) -> int>`. Keep the modules thin: parse,
call into agent/, avatar/ or pipelines/, report.
"""
