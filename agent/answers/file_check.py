"""An operator's knowledge file, checked at start-up: errors and warnings by line.

The kiosk answers only from this file, so a file it cannot read as facts is an
error, and one that says two things about the same thing is a warning worth
reading before visitors hear either:
- **empty** (nothing but comments or blank lines): an error;
- **no labels**: no line starts with "Label: ", so nothing can be retrieved and no
  yes/no answer can name its topic: an error naming the first line;
- **a label given twice** with different text ("Opening hours:" on lines 5 and 12): a
  warning naming both lines;
- **two opening hours for one day** ("Sunday 10 a.m. to 6 p.m." on one line,
  "Sunday 11 a.m. to 5 p.m." on another; "Monday to Saturday" counts for each day
  it spans): a warning naming both lines.

Line numbers are the file's own: comments are blanked, not removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_LABEL = re.compile(r"^([A-Z][\w&' -]{0,40}):\s")
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY = r"(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*"
_TIME = r"\d{1,2}(?::\d\d)?\s*(?:a\.?m\.?|p\.?m\.?)|noon|midnight"
# "Monday to Saturday 9 a.m. to 8 p.m.", "Sunday 10 a.m. to 6 p.m.", "Sundays: 10am-6pm"
_HOURS = re.compile(
    rf"\b(?P<first>{_DAY})\b(?:\s*(?:to|through|-|–)\s*(?P<last>{_DAY})\b)?[\s:,]*"
    rf"(?:from\s+)?(?P<open>{_TIME})\s*(?:to|until|till|-|–)\s*(?P<close>{_TIME})",
    re.IGNORECASE,
)


class KnowledgeFileError(ValueError):
    """A knowledge file the kiosk cannot answer from (the message names the line)."""


@dataclass(frozen=True)
class KnowledgeWarning:
    """Something in the file worth an operator's look: where, and what."""

    path: Path
    lines: tuple[int, ...]
    message: str

    def __str__(self) -> str:
        where = " and ".join(str(n) for n in self.lines)
        return f"{self.path}: line{'s' if len(self.lines) > 1 else ''} {where}: {self.message}"


def _day_index(word: str) -> int:
    return next(i for i, day in enumerate(_DAYS) if day.startswith(word.lower()[:3]))


#: a day of the week by its full name ("sun" alone is no day)
FULL_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
_DAY_SPAN = re.compile(
    rf"\b(?P<first>{FULL_DAY})\b(?:\s*(?:to|through|-|–)\s*(?P<last>{FULL_DAY})\b)?",
    re.IGNORECASE)


def days_named(text: str) -> set[int]:
    """The days of the week `text` names, 0 = Monday; a span counts for each day in it
    ("Monday to Saturday" names Tuesday: a visitor asking about Tuesday is answered by it)."""
    days: set[int] = set()
    for match in _DAY_SPAN.finditer(text):
        first = _day_index(match.group("first"))
        last = _day_index(match.group("last")) if match.group("last") else first
        days.update(day % 7 for day in range(first, (last if last >= first else last + 7) + 1))
    return days


def _normal_time(text: str) -> str:
    """"9 a.m." -> "9:00am" (so "9am" and "9:00 a.m." read the same)."""
    text = text.lower().replace(".", "").replace(" ", "")
    if text in ("noon", "midnight"):
        return text
    match = re.match(r"(\d{1,2})(?::(\d\d))?(am|pm)", text)
    if match is None:
        return text
    return f"{int(match.group(1))}:{match.group(2) or '00'}{match.group(3)}"


def check_knowledge(text: str, path: Path) -> list[KnowledgeWarning]:
    """Errors in the file `path` holding `text` raise `KnowledgeFileError`; the
    warnings come back (see the module docstring)."""
    blanked = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    lines = [(n, line.strip()) for n, line in enumerate(blanked.splitlines(), start=1)
             if line.strip()]
    if not lines:
        raise KnowledgeFileError(f"{path}: the knowledge file is empty (no line outside "
                                 "comments): the kiosk would know nothing about the place")
    labels: dict[str, tuple[int, str]] = {}
    warnings: list[KnowledgeWarning] = []
    labelled = False
    hours: dict[int, tuple[int, str]] = {}  # day -> (line, "9:00am-8:00pm")
    for number, line in lines:
        label = _LABEL.match(line)
        if label is not None:
            labelled = True
            key = label.group(1).strip().lower()
            rest = line[label.end():].strip()
            if key in labels and labels[key][1] != rest:
                warnings.append(KnowledgeWarning(path, (labels[key][0], number),
                                                 f"'{label.group(1)}' is given twice, "
                                                 "with different text"))
            labels.setdefault(key, (number, rest))
        for match in _HOURS.finditer(line):
            first = _day_index(match.group("first"))
            last = _day_index(match.group("last")) if match.group("last") else first
            span = f"{_normal_time(match.group('open'))}-{_normal_time(match.group('close'))}"
            for day in range(first, (last if last >= first else last + 7) + 1):
                day %= 7
                if day in hours and hours[day][1] != span:
                    warnings.append(KnowledgeWarning(
                        path, (hours[day][0], number),
                        f"two opening hours for {_DAYS[day].capitalize()} "
                        f"({hours[day][1]} and {span})"))
                hours.setdefault(day, (number, span))
    if not labelled:
        raise KnowledgeFileError(
            f"{path}: line {lines[0][0]}: no line starts with a label ('Opening hours: ...'): "
            "each fact needs one, for the kiosk to find it and say what it is about")
    return warnings
