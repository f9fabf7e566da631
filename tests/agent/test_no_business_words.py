"""No word of the demo store's knowledge file in product code's string literals.

The kiosk answers for whatever business its operator's file describes, so the code
must not know the demo store: a synonym table whose targets are its topics, its name
as a stop word or a fallback line naming its services make another business's kiosk
speak of the store. The words that are the file's own, not general English:
- every word of the file not among the 5,000 commonest English words
  (agent/data/common_english_words.txt, from the PyPI package wordfreq);
- its topics: the words of its labels not among the 2,000 commonest ("Parking",
  "Delivery", "Returns");
- its names (a capitalised word inside a sentence, days and months apart) whose words
  are not among the 1,000 commonest ("Maple", "Christmas", "Visa", "Store");
- its numbers of three digits or more ("250", "555", "0142").
A string constant of agent/, pipelines/, avatar/ or sdk/ code (docstrings apart: they
explain, they are not read by the kiosk) may hold none of them as a whole word.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "agent" / "data" / "kiosk_knowledge.md"
COMMON = ROOT / "agent" / "data" / "common_english_words.txt"
PACKAGES = ("agent", "pipelines", "avatar", "sdk")
#: words of the file that are another thing's there: the face's speech-training sentences
#: are everyday English never said to a visitor ("that new cafe", "holidays"), and a
#: browser's program name is not the payment method ("google-chrome")
ELSEWHERE = {
    "avatar/corpus/script.py": frozenset({"cafe", "holidays"}),
    "pipelines/kiosk/systemd_units.py": frozenset({"google"}),
}
_CALENDAR = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march
    april may june july august september october november december""".split())


def common_words(top: int) -> set[str]:
    """The `top` commonest English words of the committed list."""
    lines = [w for w in COMMON.read_text(encoding="utf-8").splitlines() if not w.startswith("#")]
    return set(lines[:top])


def business_words(knowledge: str) -> set[str]:
    """The file's words that are its own, not general English (module docstring)."""
    text = re.sub(r"<!--.*?-->", " ", knowledge, flags=re.DOTALL)
    common, topical, very_common = common_words(5000), common_words(2000), common_words(1000)
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", text)}
    own = {w for w in words if w not in common}
    for label in re.findall(r"^([A-Z][\w&' -]{0,40}):", text, flags=re.MULTILINE):
        own |= {w.lower() for w in re.findall(r"[A-Za-z]+", label) if w.lower() not in topical}
    # a capitalised word after a word that ends no sentence, on the same line: a name
    for match in re.finditer(r"(?<=[a-z,&]) +([A-Z][A-Za-z'-]*)", text):
        for part in re.findall(r"[A-Za-z]+", match.group(1)):
            if part.lower() not in very_common and part.lower() not in _CALENDAR:
                own.add(part.lower())
    own |= set(re.findall(r"\d{3,}", text))
    return own


def string_constants(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string constant in `tree` that is not a docstring."""
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                docstrings.add(id(body[0].value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings]


def test_the_rule_finds_the_store_words_the_issue_counted() -> None:
    """The list is not empty by accident: the demo file's own words are in it, and
    general English (the words a question is read with) is not."""
    own = business_words(KNOWLEDGE.read_text(encoding="utf-8"))
    assert {"mattresses", "receipt", "parking", "maple", "christmas", "restrooms", "visa",
            "mastercard", "250", "0142"} <= own
    assert not own & {"what", "when", "where", "how", "much", "hours", "floor", "free", "sunday"}


def test_product_code_holds_no_word_of_the_demo_file() -> None:
    own = business_words(KNOWLEDGE.read_text(encoding="utf-8"))
    # a whole word: not part of a longer one, an identifier ("store_true") or a host name
    pattern = re.compile(r"(?<![\w.])(" + "|".join(sorted(own, key=len, reverse=True))
                         + r")(?!\w|\.\w)", re.IGNORECASE)
    found: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, text in string_constants(tree):
                hits = sorted({m.group(1).lower() for m in pattern.finditer(text)}
                              - ELSEWHERE.get(str(path.relative_to(ROOT)), frozenset()))
                if hits:
                    found.append(f"{path.relative_to(ROOT)}:{line}: {', '.join(hits)}")
    assert not found, "the demo store's words in product code:\n" + "\n".join(found)
