"""The knowledge file checked at start-up (agent/answers/file_check.py): an empty file or
one with no labels is an error naming the problem and the line; a day with two opening
hours or a label given twice is a warning naming both lines; the shipped file is clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from loguru import logger

from agent import PersonaSettings
from agent.answers.file_check import KnowledgeFileError, check_knowledge
from agent.answers.index import KnowledgeIndex


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "knowledge.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_file_has_no_warning() -> None:
    path = PersonaSettings().knowledge_file
    assert check_knowledge(path.read_text(encoding="utf-8"), path) == []


@pytest.mark.parametrize("text", ["", "\n\n", "<!-- only a note\nfor the operator -->\n"])
def test_an_empty_file_is_an_error(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(KnowledgeFileError, match="empty"):
        KnowledgeIndex.from_file(path)


def test_a_file_without_labels_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "<!-- notes -->\n\nWe open at nine every day.\nParking is free.\n")
    with pytest.raises(KnowledgeFileError, match=r"line 3: no line starts with a label"):
        KnowledgeIndex.from_file(path)


def test_two_opening_hours_for_sunday_warn_naming_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "<!--\nnotes\n-->\nOpening hours: Monday to Saturday 9 a.m. to 8 p.m.;"
                 " Sunday 10 a.m. to 6 p.m.\nParking: free.\nSunday hours: Sunday 11am to 5pm.\n")
    warnings = check_knowledge(path.read_text(encoding="utf-8"), path)
    assert [(w.lines, "Sunday" in w.message) for w in warnings] == [((4, 6), True)]
    assert "lines 4 and 6: two opening hours for Sunday" in str(warnings[0])
    seen: list[str] = []
    sink = logger.add(lambda message: seen.append(str(message)), level="WARNING")
    try:
        KnowledgeIndex.from_file(path)  # a warning, not an error: the kiosk still starts
    finally:
        logger.remove(sink)
    assert any("lines 4 and 6" in line for line in seen)


def test_a_range_of_days_counts_for_each_day(tmp_path: Path) -> None:
    path = write(tmp_path, "Hours: Monday to Friday 9 a.m. to 5 p.m.\nLate night: Thursday "
                 "9 a.m. to 9 p.m.\nWeekend: Saturday 10am to 4pm.\n")
    warnings = check_knowledge(path.read_text(encoding="utf-8"), path)
    assert [(w.lines, "Thursday" in w.message) for w in warnings] == [((1, 2), True)]


def test_a_label_given_twice_with_different_text_warns(tmp_path: Path) -> None:
    path = write(tmp_path, "Parking: free for 2 hours.\nPets: no pets.\nParking: 3 dollars an hour.\n")
    warnings = check_knowledge(path.read_text(encoding="utf-8"), path)
    assert [(w.lines, "'Parking' is given twice" in w.message) for w in warnings] == [((1, 3), True)]
