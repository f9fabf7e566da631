"""A visitor's word for a file's thing, from WordNet (agent/answers/thesaurus.py): read from
a small database in WordNet 3.0's own format written here (its bytes and offsets as
Princeton's files have them), then through the real index and sentence encoder on a
library's file; the system's WordNet (Debian's wordnet-base) where it is installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.answers.index import KnowledgeIndex, unheld_words
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

#: synsets as (part of speech, words, pointers: (symbol, index of the target synset,
#: source word, target word)); one sense of "drop" is rare, after three commoner ones
SYNSETS = [
    ("n", ["pushchair", "stroller", "pram"], []),
    ("v", ["translate", "interpret", "render"], [("+", 2, 2, 1)]),
    ("n", ["interpreter", "translator"], []),
    ("n", ["laminate"], []),
    ("v", ["drop"], []),
    ("v", ["drop", "fall"], []),
    ("v", ["drop", "sink"], []),
    ("v", ["drop", "deck", "floor"], []),
]


def _write_wordnet(folder: Path) -> Path:
    """index.* and data.* for `SYNSETS`, each data line starting with its byte offset."""
    files = {"n": "noun", "v": "verb", "a": "adj"}

    def line(i: int, offsets: list[int]) -> str:
        pos, words, pointers = SYNSETS[i]
        body = " ".join(f"{w} 0" for w in words)
        ptrs = "".join(f" {sym} {offsets[target]:08d} {SYNSETS[target][0]} {src:02x}{dst:02x}"
                       for sym, target, src, dst in pointers)
        return f"{offsets[i]:08d} 00 {pos} {len(words):02x} {body} {len(pointers):03d}{ptrs} | a gloss\n"

    header = "  1 A test database in WordNet 3.0's format.\n"
    offsets = [0] * len(SYNSETS)
    ends = {pos: len(header) for pos in files}
    for i, (pos, _, _) in enumerate(SYNSETS):  # a line's length does not hang on the offsets
        offsets[i] = ends[pos]
        ends[pos] += len(line(i, [0] * len(SYNSETS)))
    texts = {pos: header for pos in files}
    for i, (pos, _, _) in enumerate(SYNSETS):
        texts[pos] += line(i, offsets)
    index: dict[str, dict[str, list[int]]] = {pos: {} for pos in files}
    for i, (pos, words, _) in enumerate(SYNSETS):
        for word in words:
            index[pos].setdefault(word, []).append(offsets[i])
    for pos, name in files.items():
        (folder / f"data.{name}").write_text(texts[pos], encoding="latin-1")
        rows = "".join(f"{w} {pos} {len(o)} 0 {len(o)} 0 {' '.join(f'{x:08d}' for x in o)}\n"
                       for w, o in sorted(index[pos].items()))
        (folder / f"index.{name}").write_text("  1 A test index.\n" + rows, encoding="latin-1")
    return folder


@pytest.fixture(scope="module")
def thesaurus(tmp_path_factory: pytest.TempPathFactory) -> Thesaurus:
    return Thesaurus(_write_wordnet(tmp_path_factory.mktemp("wordnet")))


def test_synonyms_and_the_words_derived_from_them(thesaurus: Thesaurus) -> None:
    assert thesaurus.related("pushchair") == {"stroller", "pram"}
    assert "pushchair" in thesaurus.related("strollers")  # a plural read as its lemma
    assert "interpreter" in thesaurus.related("translate")  # "interpret" -> "interpreter"
    assert thesaurus.related("laminating") == frozenset()  # held, but a synonym of nothing
    assert thesaurus.related("zeppelin") == frozenset()  # not in the database


def test_a_rare_sense_is_not_followed(thesaurus: Thesaurus) -> None:
    related = thesaurus.related("drop")
    assert {"fall", "sink"} <= related
    assert "floor" not in related  # the fourth sense


def test_a_missing_database_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="index.noun"):
        Thesaurus(tmp_path)


def test_a_broken_system_wordnet_leaves_the_kiosk_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partial or empty database where the system's should be: no thesaurus, no crash."""
    from agent.answers import thesaurus

    (tmp_path / "index.noun").write_text("")  # empty, and the other files missing
    monkeypatch.setattr(thesaurus, "SYSTEM_WORDNET", tmp_path)
    assert Thesaurus.system() is None


LIBRARY = """Library name: Elmstead Public Library.
Opening hours: Monday to Saturday 9 a.m. to 8 p.m.; closed on Sundays.
Strollers: strollers are welcome; the lift is next to the stairs.
Interpreters: free interpreters by phone for any language; ask at the front desk.
Printing: printing costs 10 cents a page.
"""


@pytest.fixture(scope="module")
def library_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("library") / "knowledge.md"
    path.write_text(LIBRARY, encoding="utf-8")
    return path


@pytest.mark.parametrize(("message", "fact"), [
    ("Can I bring the pushchair in with me?", "Strollers"),
    ("My dad only speaks Polish, can someone translate for him?", "Interpreters"),
])
def test_a_visitors_word_for_the_files_thing_finds_its_fact(
        library_file: Path, encoder: SentenceEncoder, thesaurus: Thesaurus,
        message: str, fact: str) -> None:
    without = KnowledgeIndex.from_file(library_file, encoder=encoder)
    assert plan_turn(without, message).reply == without.lines.dont_know
    index = KnowledgeIndex.from_file(library_file, encoder=encoder, thesaurus=thesaurus)
    assert unheld_words(index, message) == []
    plan = plan_turn(index, message)
    assert plan.facts and plan.facts[0].startswith(f"{fact}:")
    assert plan.reply != index.lines.dont_know


def test_a_thing_no_synonym_reaches_is_still_declined(
        library_file: Path, encoder: SentenceEncoder, thesaurus: Thesaurus) -> None:
    index = KnowledgeIndex.from_file(library_file, encoder=encoder, thesaurus=thesaurus)
    assert plan_turn(index, "Do you do laminating?").reply == index.lines.dont_know


@pytest.mark.skipif(not (SYSTEM_WORDNET / "index.noun").is_file(),
                    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")
def test_the_systems_wordnet() -> None:
    thesaurus = Thesaurus.system()
    assert thesaurus is not None
    assert "stroller" in thesaurus.related("pushchair")
    assert "interpreter" in thesaurus.related("translate")
    assert "holiday" not in thesaurus.related("christmas")  # broader: not followed
