"""Days of the week as English writes them: a day's full name, and the days a text names
("Monday to Saturday" names each day it spans). The routing reads a question's day
against a fact's (agent/answers/reading.py, shape.py); the operator's file is loaded and
checked by agent/answers/knowledge_file.py."""

from __future__ import annotations

import re

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _day_index(word: str) -> int:
    return next(i for i, day in enumerate(_DAYS) if day.startswith(word.lower()[:3]))


#: a day of the week by its full name ("sun" alone is no day)
FULL_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
_DAY_SPAN = re.compile(
    rf"\b(?P<first>{FULL_DAY})\b(?:\s*(?:to|through|-|–)\s*(?P<last>{FULL_DAY})\b)?",
    re.IGNORECASE)


#: English's names for days in groups: the working week and the weekend
_GROUPS = re.compile(r"\b(?:(?P<weekday>week\s?days?)|(?P<weekend>week\s?ends?))\b", re.IGNORECASE)


def days_named(text: str) -> set[int]:
    """The days of the week `text` names, 0 = Monday; a span counts for each day in it
    ("Monday to Saturday" names Tuesday: a visitor asking about Tuesday is answered by it),
    "weekdays" Monday to Friday and "the weekend" Saturday and Sunday."""
    days: set[int] = set()
    for group in _GROUPS.finditer(text):
        days.update(range(5) if group.group("weekday") else (5, 6))
    for match in _DAY_SPAN.finditer(text):
        first = _day_index(match.group("first"))
        last = _day_index(match.group("last")) if match.group("last") else first
        days.update(day % 7 for day in range(first, (last if last >= first else last + 7) + 1))
    return days
