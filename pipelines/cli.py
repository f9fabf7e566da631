"""`avatar-forcing` command line: one entry point, one sub-command per module.

Each module in `pipelines.commands` (serving and talking: the product) and in
`avatar.commands` (the face's model and data tooling, next to the code it drives)
exposes `register(subparsers)` which adds its sub-parser and sets `handler` (a
callable taking the parsed namespace and returning an exit code). Discovering them
keeps this file from becoming a shared bottleneck: a new command is a new module,
nothing else.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from avatar import commands as avatar_commands
from avatar.memory import limit_malloc_arenas, reexec_with_arena_cap
from pipelines import commands as pipeline_commands
from pipelines.process_end import end_process, exit_code

#: where the sub-command modules live
COMMAND_PACKAGES = (pipeline_commands, avatar_commands)
#: installed packages add commands here (the fleet's `fleet`): `register(subparsers)`
#: functions, so nothing in pipelines/ imports what sits on top of it
PLUGIN_GROUP = "avatar_forcing.commands"


def build_parser() -> argparse.ArgumentParser:
    """The full parser with every command module registered, sorted by name."""
    parser = argparse.ArgumentParser(
        prog="avatar-forcing",
        description="A live, reactive talking head for a local voice agent.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    found = sorted((info.name, package.__name__) for package in COMMAND_PACKAGES
                   for info in pkgutil.iter_modules(package.__path__))
    for name, package_name in found:
        importlib.import_module(f"{package_name}.{name}").register(subparsers)
    for plugin in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        plugin.load()(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and run the chosen command; errors print one clear line."""
    # the command line is a server's entry point (serve, the fleet): cap glibc's malloc
    # arenas before anything allocates (avatar/memory.py). Run as the
    # process's own command (no argv given), it re-executes itself with
    # MALLOC_ARENA_MAX set when unset; called from Python (tests, another app) it
    # only caps with mallopt. Importing our packages changes nothing of the process.
    own_process = argv is None
    if own_process:
        reexec_with_arena_cap()
        faulthandler.enable()  # a native crash prints every thread's Python stack
    limit_malloc_arenas()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    if not own_process:
        return _run(args)
    try:
        code = _run(args)
    except SystemExit as stop:  # a server's SIGTERM (pipelines/server/app.py)
        code = exit_code(stop.code)
    end_process(code)  # daemon threads in torch must not abort a clean exit


def _run(args: argparse.Namespace) -> int:
    """The chosen command's exit code (^C and a missing file or bad value become codes
    with one clear line)."""
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError) as error:
        print(f"avatar-forcing {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
