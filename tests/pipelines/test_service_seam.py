"""The face service stays as thin as pipecat's own video services (issue 77).

`AvatarForcingVideoService.process_frame` handles pipecat's frames; what only our
server adds (its hooks, a kiosk's presence, the frames only our pipeline sends) comes
through one seam, `service.install(...)` (pipelines/face/server_seam.py). These read
the service's source and signatures: a new server-only branch or constructor argument
fails here, naming itself.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pipelines.face.video_service as video_service
from pipelines.face.server_seam import SERVER_FRAMES, ServerSeam
from pipelines.face.video_service import AvatarForcingVideoService
from pipelines.kiosk.presence import KioskPresence
from pipelines.settings.sections import KioskSettings
from pipelines.wire import frames as our_frames

#: issue 77's bound on `process_frame`'s tests (26 before the seam)
MAX_IF_TESTS = 12
#: what a pipecat developer passes (and pipecat's own AIService keywords, **kwargs)
PIPECAT_ARGUMENTS = {"portrait", "settings", "assets", "session", "kwargs"}


def _function(name: str) -> ast.AsyncFunctionDef | ast.FunctionDef:
    tree = ast.parse(Path(video_service.__file__).read_text(encoding="utf-8"))
    service = next(node for node in tree.body if isinstance(node, ast.ClassDef)
                   and node.name == "AvatarForcingVideoService")
    return next(node for node in service.body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and node.name == name)


def _if_tests(function: ast.AST) -> int:
    """`if` statements (each `elif` is one, nested ones too), conditional
    expressions and `match` cases: every test the function makes."""
    return sum(isinstance(node, ast.If | ast.IfExp | ast.match_case)
               for node in ast.walk(function))


def test_process_frame_makes_at_most_twelve_tests() -> None:
    count = _if_tests(_function("process_frame"))
    assert count <= MAX_IF_TESTS, (
        f"process_frame makes {count} if tests (at most {MAX_IF_TESTS}): a frame only "
        "our server sends belongs to ServerSeam.take (server_seam.py), a long branch "
        "to a helper")


def test_the_if_counter_counts_elifs_and_nested_ifs() -> None:
    source = ("def f(x):\n    if x == 1:\n        if x: pass\n    elif x == 2: pass\n"
              "    else:\n        y = 1 if x else 2\n")
    assert _if_tests(ast.parse(source)) == 4


def test_the_constructor_takes_only_what_a_pipecat_developer_passes() -> None:
    parameters = inspect.signature(AvatarForcingVideoService.__init__).parameters
    names = set(parameters) - {"self"}
    assert names <= PIPECAT_ARGUMENTS, f"server-only arguments: {sorted(names - PIPECAT_ARGUMENTS)}"
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
               for name in names - {"kwargs"}), "arguments are keyword-only, as pipecat's"


def test_our_server_adds_through_install_only() -> None:
    install = inspect.signature(AvatarForcingVideoService.install).parameters
    assert list(install) == ["self", "hooks", "presence"]
    assert install["presence"].kind is inspect.Parameter.KEYWORD_ONLY


def test_process_frame_names_none_of_our_own_frames() -> None:
    # the frames only our pipeline sends are the seam's, all of them
    ours = {name for name, value in vars(our_frames).items()
            if inspect.isclass(value) and value.__module__ == our_frames.__name__}
    named = {node.id for node in ast.walk(_function("process_frame"))
             if isinstance(node, ast.Name)}
    assert not named & ours, f"process_frame handles {sorted(named & ours)} itself"
    assert {frame.__name__ for frame in SERVER_FRAMES} <= ours


def test_a_kiosk_presence_is_what_the_seam_takes() -> None:
    # the kiosk's presence satisfies the seam's protocol (checked by mypy too): the
    # camera and the quiet blocks reach it, nothing when none is installed
    presence = KioskPresence(KioskSettings(away_secs=5.0))
    seam = ServerSeam(presence=presence)
    assert seam.on_motion == presence.camera and seam.quiet_block == presence.quiet
    assert presence.nobody_there
    bare = ServerSeam()
    assert bare.on_motion is None and bare.quiet_block is None and bare.presence is None
