"""The pipecat WebRTC example (examples/pipecat_webrtc/bot.py) in the repository.

It is one file in pipecat's own shape: `bot(runner_args)` under pipecat's development
runner, and one import line of ours (`from avatar_forcing import ...`), the line that
works from the wheel too. Here: that shape, the exports it imports, and that it
starts from the repository's tree (`python bot.py --help` in its folder: pipecat's
runner parses its flags with every import resolved). Its whole conversation (a
spoken question in, a lip-synced answer out, heard back by whisper, 40 s of one
media clock) runs once in CI, from the installed wheel in a clean venv, where a
developer copies it to (tests/packaging/test_wheel.py, with
tests/examples/pipecat_example.py as the browser): running it here too would add a
minute and a half to CI for the same code.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.examples.pipecat_example import BOT


def test_every_name_the_example_imports_is_exported_and_typed() -> None:
    """`from avatar_forcing import ...` names load lazily (no side effect on import),
    and type checkers see the same names (py.typed, the TYPE_CHECKING imports)."""
    import avatar_forcing

    assert sorted(avatar_forcing.__all__) == sorted(avatar_forcing._EXPORTS)
    for name in avatar_forcing.__all__:
        assert getattr(avatar_forcing, name).__name__ == name
    source = Path(avatar_forcing.__file__).read_text()
    typed = ast.parse(source).body
    checked = next(node for node in typed if isinstance(node, ast.If))  # TYPE_CHECKING
    imported = {alias.name for node in checked.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert imported == set(avatar_forcing.__all__)


def test_the_example_is_one_file_in_pipecats_shape_with_one_import_line_of_ours() -> None:
    tree = ast.parse(BOT.read_text())
    ours = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in ("avatar_forcing", "agent", "avatar",
                                                      "pipelines", "sdk")]
    assert [node.module for node in ours] == ["avatar_forcing"], [n.module for n in ours]
    bots = [node for node in tree.body if isinstance(node, ast.AsyncFunctionDef)
            and node.name == "bot"]
    assert len(bots) == 1 and [a.arg for a in bots[0].args.args] == ["runner_args"]
    assert "from pipecat.runner.run import main" in BOT.read_text()
    # pipecat's runner parses its own flags: the example starts with no model loaded
    result = subprocess.run([sys.executable, BOT.name, "--help"], cwd=BOT.parent,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--port" in result.stdout, result.stderr[-2000:]
