"""Background plates kept on disk (avatar/render/layers.py `PortraitPlates.keep_in`):
a restarted server takes its portraits' plates from the last start's files instead
of spending seconds of a core on each, and a bad or unwritable folder costs only
the time it would have cost anyway."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar.render.layers import PortraitPlates, inpaint_plate


@pytest.fixture(scope="module")
def picture() -> tuple[np.ndarray, np.ndarray]:
    """A 256 px picture with stripes behind a disc (the person) and the disc as hole."""
    size = 256
    image = np.zeros((size, size, 3), np.uint8)
    image[:, :, 0] = (np.arange(size) * 7 % 256).astype(np.uint8)[None, :]
    image[:, :, 1] = 90
    image[:, :, 2] = (np.arange(size) * 3 % 256).astype(np.uint8)[:, None]
    hole = np.zeros((size, size), np.uint8)
    cv2.circle(hole, (128, 140), 60, 1, -1)
    image[hole > 0] = (200, 160, 140)
    return image, hole.astype(bool)


def _started(folder: Path | None) -> PortraitPlates:
    plates = PortraitPlates()
    plates.keep_in(folder)
    return plates


def test_a_restart_takes_the_kept_plate_at_once(tmp_path: Path,
                                                picture: tuple[np.ndarray, np.ndarray]) -> None:
    image, hole = picture
    made = _started(tmp_path).request(image, hole).result(timeout=120)
    assert np.array_equal(made, inpaint_plate(image, hole))
    assert len(list(tmp_path.glob("*.png"))) == 1

    kept = _started(tmp_path).request(image, hole)  # a new process: nothing in memory
    assert kept.done()
    assert np.array_equal(kept.result(), made)


def test_another_picture_is_not_given_a_kept_plate(tmp_path: Path,
                                                   picture: tuple[np.ndarray, np.ndarray]) -> None:
    image, hole = picture
    _started(tmp_path).request(image, hole).result(timeout=120)
    other = image.copy()
    other[:20] = 0
    plate = _started(tmp_path).request(other, hole).result(timeout=120)
    assert np.array_equal(plate, inpaint_plate(other, hole))
    assert len(list(tmp_path.glob("*.png"))) == 2


def test_a_torn_file_is_made_again(tmp_path: Path,
                                   picture: tuple[np.ndarray, np.ndarray]) -> None:
    image, hole = picture
    made = _started(tmp_path).request(image, hole).result(timeout=120)
    (kept,) = tmp_path.glob("*.png")
    kept.write_bytes(kept.read_bytes()[:100])  # the machine lost power mid-write
    again = _started(tmp_path).request(image, hole).result(timeout=120)
    assert np.array_equal(again, made)
    assert cv2.imread(str(kept)) is not None  # and written whole again


def test_an_unwritable_folder_still_gives_the_plate(tmp_path: Path,
                                                    picture: tuple[np.ndarray, np.ndarray]) -> None:
    image, hole = picture
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("a file where the folder should be")
    plate = _started(not_a_folder).request(image, hole).result(timeout=120)
    assert np.array_equal(plate, inpaint_plate(image, hole))


def test_plates_stay_in_memory_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            picture: tuple[np.ndarray, np.ndarray]) -> None:
    monkeypatch.setenv("AVATAR_FORCING_CACHE_DIR", str(tmp_path))
    image, hole = picture
    PortraitPlates().request(image, hole).result(timeout=120)
    assert not any(tmp_path.rglob("*.png"))
