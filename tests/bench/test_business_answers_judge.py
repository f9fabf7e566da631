"""The business answers bench's cut-off judge and its halves (bench/answers/business_answers.py):
a reply is cut when it stops before its sentence does, and a name that ends a sentence is not a
dangling word; a business without a probe set has an empty probe half."""

from __future__ import annotations

from pathlib import Path

from tests.bench.scripts import load_script

BENCH = load_script(Path(__file__).resolve().parents[2] / "bench/answers/business_answers.py",
                    "business_answers_judge_under_test")


def test_a_reply_that_stops_on_an_article_or_without_an_end_mark_is_cut() -> None:
    assert BENCH.stops_mid_sentence("The garage is behind the", True)
    assert BENCH.stops_mid_sentence("The garage is behind a.", True)
    assert BENCH.stops_mid_sentence("The garage is behind the store", True)
    assert BENCH.stops_mid_sentence("The garage is behind the store.", False)


def test_a_cut_reply_says_why() -> None:
    assert BENCH.cut_reason("", True) == "empty"
    assert BENCH.cut_reason("The garage is behind the store.", False) == "not_completed"
    assert BENCH.cut_reason("The garage is behind the", True) == "dangling"
    assert BENCH.cut_reason("The garage is behind the store", True) == "no_end_mark"
    assert BENCH.cut_reason("The store is Sorry, please ask a member of staff.", True) == "glued"
    assert BENCH.cut_reason("The garage is behind the store.", True) is None


def test_an_entrance_named_a_ends_a_whole_sentence() -> None:
    assert not BENCH.stops_mid_sentence("Ask at the service desk by entrance A.", True)
    assert not BENCH.stops_mid_sentence("Yes, the garage is behind the store.", True)


def test_a_business_without_a_probe_set_has_an_empty_probe_half(tmp_path: Path) -> None:
    (tmp_path / "zoo").mkdir()
    BENCH.BUSINESSES_DIR, saved = tmp_path, BENCH.BUSINESSES_DIR
    try:
        assert BENCH.load_half("zoo", "probe") == []
        (tmp_path / "zoo" / "probe.json").write_text(
            '{"questions": [{"kind": "unknown", "q": "Do you sell maps?", "all_of": []}]}',
            encoding="utf-8")
        assert BENCH.load_half("zoo", "probe") == [
            {"kind": "unknown", "q": "Do you sell maps?", "all_of": [], "half": "probe",
             "business": "zoo"}]
    finally:
        BENCH.BUSINESSES_DIR = saved
