"""The operator's knowledge file loaded at start-up (agent/answers/knowledge_file.py): every
file loads, whatever it holds; what is wrong comes back as a warning naming the line, and
the facts come back with their label, sentence and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from loguru import logger

from agent.answers.knowledge_file import Fact, decode, load_knowledge_file

ROOT = Path(__file__).resolve().parents[2]
BUSINESSES = sorted((ROOT / "bench" / "answers" / "businesses").glob("*/knowledge.md"))
SHIPPED = ROOT / "agent" / "data" / "kiosk_knowledge.md"


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "knowledge.md"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def kinds(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    return [(w.kind, w.lines) for w in load_knowledge_file(path, log=False).warnings]


@pytest.mark.parametrize("path", [SHIPPED, *BUSINESSES], ids=lambda p: p.parent.name)
def test_the_shipped_and_bench_files_load_without_a_warning(path: Path) -> None:
    loaded = load_knowledge_file(path, log=False)
    assert loaded.warnings == ()
    assert len(loaded.facts) >= 15
    assert all(f.label and f.sentence for f in loaded.facts)


def test_facts_carry_label_sentence_and_the_files_own_line() -> None:
    loaded = load_knowledge_file(SHIPPED, log=False)
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    for fact in loaded.facts:
        assert fact.sentence.split()[0] in lines[fact.line - 1]
    hours = next(f for f in loaded.facts if f.label == "Opening hours")
    assert lines[hours.line - 1].startswith("Opening hours:")
    assert "Sunday" in hours.sentence and not hours.sentence.startswith("Opening")
    # a sentence wrapped over two lines is one fact; one with a label of its own is its own
    returns = [f for f in loaded.facts if f.label == "Returns"]
    assert len(returns) == 1 and returns[0].sentence.endswith("original payment method.")
    assert any(f.label == "Without a receipt" and f.sentence.startswith("no refund")
               for f in loaded.facts)
    assert "<!--" not in loaded.body and "Opening hours:" in loaded.body


def test_markdown_bullets_bold_and_headings(tmp_path: Path) -> None:
    path = write(tmp_path, "# Our pharmacy\n\n- **Parking:** six free spaces.\n"
                 "* Phone: 555-0188.\n1. Hours:\n   Monday to Friday 8 a.m. to 9 p.m.\n")
    loaded = load_knowledge_file(path, log=False)
    assert loaded.warnings == ()
    assert [(f.label, f.sentence, f.line) for f in loaded.facts] == [
        ("Parking", "six free spaces.", 3), ("Phone", "555-0188.", 4),
        ("Hours", "Monday to Friday 8 a.m. to 9 p.m.", 6)]
    assert loaded.facts[0].text == "Parking: six free spaces."


@pytest.mark.parametrize("text", ["", "\n\n  \n", "<!-- only a note\nfor the operator -->\n"])
def test_an_empty_file_loads_with_a_warning(tmp_path: Path, text: str) -> None:
    loaded = load_knowledge_file(write(tmp_path, text), log=False)
    assert loaded.facts == () and loaded.body == ""
    assert [w.kind for w in loaded.warnings] == ["empty"]
    assert "empty" in str(loaded.warnings[0]) and "decline" in str(loaded.warnings[0])


def test_a_missing_file_loads_with_a_warning(tmp_path: Path) -> None:
    loaded = load_knowledge_file(tmp_path / "nowhere.md", log=False)
    assert loaded.facts == ()
    assert [w.kind for w in loaded.warnings] == ["missing"]


def test_prose_without_labels_warns_naming_the_first_line_and_keeps_its_sentences(
        tmp_path: Path) -> None:
    path = write(tmp_path, "<!-- notes -->\n\nWe are a small bakery on Elm Street. We open at "
                 "seven every day.\nOur bread is baked each morning.\n\nParking is free behind "
                 "the shop.\n")
    loaded = load_knowledge_file(path, log=False)
    assert [(w.kind, w.lines) for w in loaded.warnings] == [("no_labels", (3,))]
    assert "line 3: no line starts with a label" in str(loaded.warnings[0])
    assert [(f.label, f.line) for f in loaded.facts] == [("", 3), ("", 3), ("", 4), ("", 6)]
    assert loaded.facts[1].sentence == "We open at seven every day."


def test_a_paragraph_without_a_label_among_labelled_lines_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "Parking: free.\nPhone: 555-0100.\n\nWe also sell stamps.\n")
    assert kinds(path) == [("unlabelled", (4,))]


def test_a_label_twice_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "Parking: free parking behind the building.\nPhone: 555-0100.\n"
                 "Parking: ask at the desk for a parking pass.\nPhone: 555-0100.\n")
    warnings = load_knowledge_file(path, log=False).warnings
    assert [(w.kind, w.lines) for w in warnings] == [("label_twice", (1, 3)),
                                                     ("label_twice", (2, 4))]
    assert "lines 1 and 3: 'Parking' is given twice" in str(warnings[0])
    assert "word for word" in warnings[1].message


@pytest.mark.parametrize(("text", "lines", "said"), [
    ("Pets: no, pets are not allowed.\nWi-Fi: free.\nPets: yes, dogs are welcome.\n",
     (1, 3), "says yes on one line and no"),
    ("Parking: free for 2 hours.\nParking: free for 3 hours.\n", (1, 2), "different values"),
    ("Pet: dogs on a leash are welcome.\nPets: no pets.\n", (1, 2), "says yes"),
    ("Opening hours: Monday to Saturday 9 a.m. to 8 p.m.\nParking: free.\n"
     "Saturday hours: Saturday 10am to 4pm.\n", (1, 3), "two opening hours for Saturday"),
])
def test_a_contradiction_names_both_lines(tmp_path: Path, text: str, lines: tuple[int, ...],
                                          said: str) -> None:
    warnings = load_knowledge_file(write(tmp_path, text), log=False).warnings
    assert [(w.kind, w.lines) for w in warnings] == [("contradiction", lines)]
    assert said in warnings[0].message


def test_hours_of_two_different_things_are_no_contradiction(tmp_path: Path) -> None:
    path = write(tmp_path, "Opening hours: Monday to Friday 8 a.m. to 9 p.m.\n"
                 "Flu shots: Monday 10 a.m. to 4 p.m.\nCafe hours: Monday 7am to 3pm.\n")
    assert kinds(path) == []


@pytest.mark.parametrize(("data", "encoding"), [
    ("Caf\u00e9: cr\u00e8me br\u00fbl\u00e9e until 5 p.m.\n".encode("utf-16"), "utf-16"),
    ("Caf\u00e9: cr\u00e8me br\u00fbl\u00e9e until 5 p.m.\n".encode("utf-16-le"), "utf-16-le"),
    ("Caf\u00e9: cr\u00e8me br\u00fbl\u00e9e until 5 p.m.\n".encode("utf-16-be"), "utf-16-be"),
    ("Caf\u00e9: cr\u00e8me br\u00fbl\u00e9e until 5 p.m.\n".encode("utf-32"), "utf-32"),
    ("Caf\u00e9: cr\u00e8me br\u00fbl\u00e9e until 5 p.m.\n".encode("latin-1"), "cp1252"),
])
def test_another_encoding_is_read_and_named(tmp_path: Path, data: bytes, encoding: str) -> None:
    loaded = load_knowledge_file(write(tmp_path, data), log=False)
    assert loaded.encoding == encoding
    assert [w.kind for w in loaded.warnings] == ["encoding"]
    assert "UTF-8" in loaded.warnings[0].message
    assert loaded.facts == (Fact("Caf\u00e9", "cr\u00e8me br\u00fbl\u00e9e until 5 p.m.", 1),)


def test_latin1_names_the_line_of_the_first_odd_byte(tmp_path: Path) -> None:
    data = "Parking: free.\nCaf\u00e9: open.\n".encode("latin-1")
    warning = load_knowledge_file(write(tmp_path, data), log=False).warnings[0]
    assert "byte 0xE9 on line 2" in warning.message


def test_utf8_with_a_byte_order_mark_is_plain_utf8() -> None:
    assert decode(b"\xef\xbb\xbfParking: free.\n") == ("Parking: free.\n", "utf-8", None)


def test_bytes_that_are_no_text_at_all_still_load(tmp_path: Path) -> None:
    loaded = load_knowledge_file(write(tmp_path, bytes(range(256)) * 4), log=False)
    assert loaded.encoding in ("cp1252", "utf-16-le", "utf-16-be")
    assert any(w.kind == "encoding" for w in loaded.warnings)


def test_a_comment_never_closed_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "Parking: free.\n<!-- old hours\nHours: 9 to 5.\n")
    loaded = load_knowledge_file(path, log=False)
    assert [(w.kind, w.lines) for w in loaded.warnings] == [("unclosed_comment", (2,))]
    assert [f.label for f in loaded.facts] == ["Parking"]


def test_warnings_are_logged_at_start_up(tmp_path: Path) -> None:
    seen: list[str] = []
    sink = logger.add(lambda message: seen.append(str(message)), level="WARNING")
    try:
        load_knowledge_file(write(tmp_path, "Parking: free.\nParking: 5 dollars.\n"))
    finally:
        logger.remove(sink)
    assert any("knowledge file" in line and "lines 1 and 2" in line for line in seen)
