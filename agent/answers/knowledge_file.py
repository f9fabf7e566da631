"""The operator's knowledge file, loaded and checked: its facts, and warnings naming lines.

An operator's first act is to replace the demo file with their own, so whatever they
save must load: this module never raises on a file's content. A file the kiosk cannot
answer well from still loads, with a start-up warning that names the line and says what
to change, and the kiosk keeps serving (with no facts it declines every question).

What the parse gives (`load_knowledge_file(path)` -> `KnowledgeFile`):
- `facts`: one `Fact` per sentence, in file order, each with
  - `label`: what it is about, as the operator wrote it ("Opening hours"); a sentence
    that opens with a label of its own ("Without a receipt: no refund ...") has that
    one; "" for prose without a label;
  - `sentence`: the sentence without its label ("Monday to Saturday 9 a.m. to 8 p.m.;
    Sunday 10 a.m. to 6 p.m.");
  - `line`: the file's own line number where the sentence starts (comments are
    blanked, not removed, so numbers match the operator's editor);
  - `text`: "label: sentence" (the sentence alone when there is no label).
- `body`: the file's text as the LLM may read it (decoded, comments dropped, blank
  runs collapsed): "" for an empty file.
- `warnings`: what the operator should look at, each naming its line(s) (`kind` says
  which check), also logged at start-up by `load_knowledge_file`:
  - `empty`: nothing outside comments;
  - `missing`: no such file (the kiosk serves, knowing nothing);
  - `no_labels`: prose without a single "Label: " line (each sentence is still a fact,
    found by its words, but no answer can name its topic);
  - `unlabelled`: a paragraph without a label in a file that has them;
  - `label_twice`: one label on two lines (a visitor would get one of the two);
  - `contradiction`: one label, or one day's opening hours, saying two things: a yes
    and a no, different numbers, or two opening hours for one day;
  - `encoding`: not UTF-8 (UTF-16/32 with or without a byte-order mark, or a single-byte
    encoding such as Latin-1): read anyway, and the warning says how;
  - `unclosed_comment`: a "<!--" never closed hides the rest of the file.

A line is a fact's first line when it starts with a label: a few words (no sentence
punctuation) and a colon, optionally as a markdown bullet or in bold ("- **Parking:**
free"). The lines right after it, without a blank line between, continue it. Headings
("# Our hours") and rules ("---") are structure, not facts.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# "- ", "* ", "+ ", "1. " and bold markers around the label: markdown an operator may use
_BULLET = re.compile(r"^(?:[-*+]\s+|\d{1,3}[.)]\s+)")
#: a label: up to 60 characters, starting with a letter, no sentence punctuation, then
#: ":" and either the fact or the end of the line (the fact on the next lines)
_LABEL = re.compile(r"^\**(?P<label>[^\W\d_][^:.,;!?*]{0,59}?)\**\s*:\**(?:\s+|$)")
_MAX_LABEL_WORDS = 6
# A sentence ends at . ! ? before a capital or a quote ("9 a.m. to 8 p.m." stays whole).
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_HEADING = re.compile(r"^(?:#{1,6}\s|={3,}\s*$|-{3,}\s*$|\*{3,}\s*$|_{3,}\s*$)")
_BLANK_RUNS = re.compile(r"\n{3,}")
_WORD = re.compile(r"[a-z0-9]+")

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*"
_TIME = r"\d{1,2}(?::\d\d)?\s*(?:a\.?m\.?|p\.?m\.?)|noon|midnight"
# "Monday to Saturday 9 a.m. to 8 p.m.", "Sunday 10 a.m. to 6 p.m.", "Sundays: 10am-6pm"
_HOURS = re.compile(
    rf"\b(?P<first>{_DAY})\b(?:\s*(?:to|through|-|\u2013)\s*(?P<last>{_DAY})\b)?[\s:,]*"
    rf"(?:from\s+)?(?P<open>{_TIME})\s*(?:to|until|till|-|\u2013)\s*(?P<close>{_TIME})",
    re.IGNORECASE,
)
# label words that say "when open" and nothing about what: "Opening hours" and "Sunday
# hours" are one subject, "Cafe hours" another
_HOURS_WORDS = frozenset({"opening", "open", "business", "regular", "normal", "hour", "hours",
                          "time", "times", *_DAYS, *(d + "s" for d in _DAYS)})
_NO = re.compile(r"^(?:no|not|never|none|nope)\b", re.IGNORECASE)
_YES = re.compile(r"^(?:yes|yeah|always|sure)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:no|not|never|none|cannot|can't|don't|doesn't|isn't|aren't|"
                       r"won't|without)\b|n't\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.:]\d+)?")
_MAX_UNLABELLED_WARNINGS = 5


@dataclass(frozen=True)
class Fact:
    """One sentence of the file: what it is about, what it says, and where."""

    label: str
    sentence: str
    line: int

    @property
    def text(self) -> str:
        """"Label: sentence", or the sentence alone when it has no label."""
        return f"{self.label}: {self.sentence}" if self.label else self.sentence


@dataclass(frozen=True)
class KnowledgeWarning:
    """Something in the file worth the operator's look: which check, where, and what."""

    kind: str
    path: Path
    lines: tuple[int, ...]
    message: str

    def __str__(self) -> str:
        if not self.lines:
            return f"{self.path}: {self.message}"
        where = " and ".join(str(n) for n in self.lines)
        return f"{self.path}: line{'s' if len(self.lines) > 1 else ''} {where}: {self.message}"


@dataclass(frozen=True)
class KnowledgeFile:
    """A loaded knowledge file: its facts, the text the LLM may read, the warnings."""

    path: Path
    facts: tuple[Fact, ...]
    body: str
    encoding: str
    warnings: tuple[KnowledgeWarning, ...] = field(default=())

    def labels(self) -> list[str]:
        """The labels, each once, in file order."""
        return list(dict.fromkeys(f.label for f in self.facts if f.label))


def decode(data: bytes) -> tuple[str, str, str | None]:
    """(text, encoding, a note for the operator or None) for a file's bytes; never raises.

    A byte-order mark decides (UTF-8, UTF-16, UTF-32); else UTF-8 if the bytes are;
    else UTF-16 when a third or more of the bytes are NUL (its ASCII text); else
    Windows-1252, the usual single-byte encoding of a Western editor (a superset of
    Latin-1's printable characters), with Latin-1 for the bytes it leaves undefined."""
    for bom, name in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                      (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            text = data.decode(name, errors="replace")
            if name == "utf-8-sig":
                return text, "utf-8", None
            return text, name, (f"the file is {name.upper()}, not UTF-8: read as {name.upper()}; "
                                "save it as UTF-8 so every tool reads it alike")
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as error:
        bad_at = error.start
    if data and data.count(0) * 3 >= len(data):
        even_nuls = data[0::2].count(0)
        name = "utf-16-be" if even_nuls > data[1::2].count(0) else "utf-16-le"
        return (data.decode(name, errors="replace"), name,
                f"the file is {name.upper()} without a byte-order mark: read as such; "
                "save it as UTF-8")
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # one of the five bytes Windows-1252 leaves undefined
        text = data.decode("latin-1")
    line = data.count(b"\n", 0, bad_at) + 1
    return (text, "cp1252",
            f"the file is not UTF-8 (byte 0x{data[bad_at]:02X} on line {line}): read as "
            "Windows-1252 / Latin-1; check its accented letters and save it as UTF-8")


def _blank_comments(text: str) -> tuple[str, int | None]:
    """`text` with HTML comments replaced by as many newlines (line numbers kept), and
    the line of a "<!--" never closed (which hides the rest), or None."""
    blanked = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    opened = blanked.find("<!--")
    if opened < 0:
        return blanked, None
    line = blanked.count("\n", 0, opened) + 1
    rest = blanked[opened:]
    return blanked[:opened] + "\n" * rest.count("\n"), line


def _label_of(line: str) -> tuple[str, str] | None:
    """(label, the rest) when `line` starts with a label, else None."""
    match = _LABEL.match(line)
    if match is None:
        return None
    label = match.group("label").strip()
    if len(label.split()) > _MAX_LABEL_WORDS:
        return None
    return label, line[match.end():].strip()


@dataclass
class _Block:
    """A labelled line and its continuation lines, or an unlabelled paragraph."""

    label: str
    line: int
    parts: list[tuple[int, str]]  # (line number, text) of each line's words


def _blocks(blanked: str) -> list[_Block]:
    """The file's facts as blocks, in order (comments already blanked)."""
    blocks: list[_Block] = []
    open_block: _Block | None = None  # the block a next line continues
    for number, raw in enumerate(blanked.split("\n"), start=1):
        line = raw.strip().replace("\u200b", "").replace("\ufeff", "")
        if not line or _HEADING.match(line):
            open_block = None
            continue
        line = _BULLET.sub("", line)
        labelled = _label_of(line)
        if labelled is not None:
            label, rest = labelled
            open_block = _Block(label, number, [(number, rest)] if rest else [])
            blocks.append(open_block)
        elif open_block is not None:
            open_block.parts.append((number, line))
        else:
            open_block = _Block("", number, [(number, line)])
            blocks.append(open_block)
    return blocks


def _sentences(block: _Block) -> list[Fact]:
    """A block's facts: one per sentence, each with its label and first line."""
    facts: list[Fact] = []
    for number, text in block.parts:
        for piece in _SENTENCE_BREAK.split(text):
            own = _label_of(piece)
            continues = (facts and not own and not re.search(r"[.!?][\"')]?$", facts[-1].sentence))
            if continues:  # a sentence broken across lines
                last = facts[-1]
                facts[-1] = Fact(last.label, f"{last.sentence} {piece}", last.line)
            elif own is not None and own[1]:
                facts.append(Fact(own[0], own[1], number))
            else:
                facts.append(Fact(block.label, piece, number))
    if not facts and block.label:
        facts.append(Fact(block.label, "", block.line))  # "Parking:" and nothing said
    return facts


def _subject(label: str) -> str:
    """A label as a subject: lower case, words only, plurals folded ("Pets" = "pet")."""
    return " ".join(w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
                    for w in _WORD.findall(label.lower()) if w not in ("the", "a", "an", "our"))


def _polarity(sentence: str) -> str:
    """"no" for a sentence that opens with a no, "yes" for one that opens with a yes or
    holds no negation at all, "" for a mixed one."""
    if _NO.match(sentence):
        return "no"
    if _YES.match(sentence) or not _NEGATION.search(sentence):
        return "yes"
    return ""


def _day_index(word: str) -> int:
    return next(i for i, day in enumerate(_DAYS) if day.startswith(word.lower()[:3]))


def _clock(text: str) -> str:
    """"9 a.m." -> "9:00am" (so "9am" and "9:00 a.m." read the same)."""
    text = text.lower().replace(".", "").replace(" ", "")
    match = re.match(r"(\d{1,2})(?::(\d\d))?(am|pm)", text)
    if match is None:
        return text
    return f"{int(match.group(1))}:{match.group(2) or '00'}{match.group(3)}"


def _label_checks(blocks: list[_Block], path: Path) -> list[KnowledgeWarning]:
    """A label given twice, and whether the two say different things."""
    warnings: list[KnowledgeWarning] = []
    seen: dict[str, _Block] = {}
    for block in blocks:
        if not block.label:
            continue
        subject = _subject(block.label)
        first = seen.setdefault(subject, block)
        if first is block:
            continue
        said = [" ".join(t for _, t in b.parts) for b in (first, block)]
        lines = (first.line, block.line)
        polarities = {_polarity(s) for s in said}
        numbers = [set(_NUMBER.findall(s)) for s in said]
        if said[0].strip(" .").lower() == said[1].strip(" .").lower():
            message = f"'{block.label}' is given twice, word for word: keep one"
            kind = "label_twice"
        elif polarities == {"yes", "no"}:
            message = (f"contradiction: '{block.label}' says yes on one line and no on the "
                       f"other ({said[0]!r} / {said[1]!r}); a visitor would hear either")
            kind = "contradiction"
        elif all(numbers) and numbers[0] != numbers[1]:
            message = (f"contradiction: '{block.label}' gives different values "
                       f"({', '.join(sorted(numbers[0]))} / {', '.join(sorted(numbers[1]))}); "
                       "a visitor would hear either")
            kind = "contradiction"
        else:
            message = (f"'{block.label}' is given twice, with different text: a visitor "
                       "would hear one of them; say it once")
            kind = "label_twice"
        warnings.append(KnowledgeWarning(kind, path, lines, message))
    return warnings


def _hours_checks(facts: list[Fact], path: Path) -> list[KnowledgeWarning]:
    """Two opening hours for one day under one subject ("Opening hours" and "Sunday
    hours" are one; "Cafe hours" is another): "Monday to Saturday" counts for each day."""
    warnings: list[KnowledgeWarning] = []
    hours: dict[tuple[str, int], tuple[int, str]] = {}  # (subject, day) -> (line, span)
    for fact in facts:
        subject = " ".join(w for w in _WORD.findall(fact.label.lower()) if w not in _HOURS_WORDS)
        for match in _HOURS.finditer(fact.sentence):
            first = _day_index(match.group("first"))
            last = _day_index(match.group("last")) if match.group("last") else first
            span = f"{_clock(match.group('open'))}-{_clock(match.group('close'))}"
            for day in range(first, (last if last >= first else last + 7) + 1):
                key = (subject, day % 7)
                if key in hours and hours[key][1] != span:
                    warnings.append(KnowledgeWarning(
                        "contradiction", path, (hours[key][0], fact.line),
                        f"contradiction: two opening hours for {_DAYS[day % 7].capitalize()} "
                        f"({hours[key][1]} and {span})"))
                hours.setdefault(key, (fact.line, span))
    return warnings


def parse_knowledge(text: str, path: Path, encoding: str = "utf-8") -> KnowledgeFile:
    """The facts and warnings of a knowledge file's decoded `text` (see the module
    docstring); `path` names the file in the warnings."""
    path = Path(path)
    blanked, unclosed = _blank_comments(text)
    warnings: list[KnowledgeWarning] = []
    if unclosed is not None:
        warnings.append(KnowledgeWarning(
            "unclosed_comment", path, (unclosed,),
            "a comment opened with '<!--' is never closed with '-->': the kiosk reads "
            "nothing after it"))
    blocks = _blocks(blanked)
    facts = [fact for block in blocks for fact in _sentences(block)]
    body = _BLANK_RUNS.sub("\n\n", "\n".join(line.rstrip() for line in blanked.split("\n")))
    body = body.strip()
    if not facts:
        warnings.append(KnowledgeWarning(
            "empty", path, (),
            "the knowledge file is empty (nothing outside comments): the kiosk knows no "
            "facts and will decline every question about the business"))
    elif not any(block.label for block in blocks):
        warnings.append(KnowledgeWarning(
            "no_labels", path, (blocks[0].line,),
            "no line starts with a label ('Opening hours: 9 a.m. to 5 p.m. every day.'): "
            "each sentence is read as a fact, but the kiosk cannot tell what each is "
            "about; put one fact a line, each after its label"))
    else:
        unlabelled = [b for b in blocks if not b.label]
        for block in unlabelled[:_MAX_UNLABELLED_WARNINGS]:
            warnings.append(KnowledgeWarning(
                "unlabelled", path, (block.line,),
                "a paragraph without a label: give it one ('Label: ...') so the kiosk "
                "knows what it is about"))
        if len(unlabelled) > _MAX_UNLABELLED_WARNINGS:
            warnings.append(KnowledgeWarning(
                "unlabelled", path, (),
                f"and {len(unlabelled) - _MAX_UNLABELLED_WARNINGS} more paragraphs without a label"))
    warnings += _label_checks(blocks, path)
    warnings += _hours_checks(facts, path)
    return KnowledgeFile(path, tuple(facts), body, encoding, tuple(warnings))


def load_knowledge_file(path: Path, *, log: bool = True) -> KnowledgeFile:
    """Read, decode and parse the knowledge file at `path`; never raises for what the
    file holds (nor for a missing one): the warnings say what is wrong, and are logged
    at start-up when `log`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        loaded = KnowledgeFile(path, (), "", "", (KnowledgeWarning(
            "missing", path, (), f"cannot read the knowledge file ({error.strerror or error}): "
            "the kiosk knows no facts and will decline every question about the business"),))
    else:
        text, encoding, note = decode(data)
        loaded = parse_knowledge(text, path, encoding)
        if note is not None:
            loaded = KnowledgeFile(path, loaded.facts, loaded.body, encoding,
                                   (KnowledgeWarning("encoding", path, (), note), *loaded.warnings))
    if log:
        for warning in loaded.warnings:
            logger.warning(f"knowledge file: {warning}")
    return loaded


__all__ = ["Fact", "KnowledgeFile", "KnowledgeWarning", "decode", "load_knowledge_file",
           "parse_knowledge"]
