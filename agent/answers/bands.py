"""Bands: a fact that lists what holds for ranges of a number, and the one a number is in.

A file often says what holds for each band of an age or a count in one line: "adults
18 dollars, children 6 to 17 pay 9 dollars, children under 6 get in free". Asked "My
son is twelve, how much would his ticket be?", a person says the band twelve is in,
not the whole list; asked "Do I have to pay for my three year old?", they say "No" and
that band. The small model did neither (it read the list, or said "Yes."). Here the
bands are read in general English: "6 to 17", "under 6", "over 65", "65 and over",
"18+"; the number is the visitor's, said with no unit but an age's ("twelve", "three
year old").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from agent.answers.values import extract_facts

_N = r"(\d{1,3})"
#: "6 to 17", "6-17", "6 through 17"
_BETWEEN = re.compile(rf"\b{_N}\s*(?:to|through|-|\u2013)\s*{_N}\b(?!\s*(?::|[ap]\.?m))",
                      re.IGNORECASE)
#: "under 6", "younger than 6", "below 6", "less than 6"
_BELOW = re.compile(rf"\b(?:under|below|younger than|less than)\s+{_N}\b", re.IGNORECASE)
#: "over 65", "older than 65", "above 65", "more than 65"
_ABOVE = re.compile(rf"\b(?:over|above|older than|more than)\s+{_N}\b", re.IGNORECASE)
#: "65 and over", "65 or older", "18+", "65 and up"
_FROM = re.compile(rf"\b{_N}\s*(?:\+|(?:and|or)\s+(?:over|older|up|above))", re.IGNORECASE)
#: the units a band's number may carry beside none: an age's
_AGE_UNITS = (None, "year")


@dataclass(frozen=True)
class Band:
    """One item of a fact's list and the range of the number it holds for (inclusive)."""

    item: str
    low: float
    high: float

    def holds(self, number: float) -> bool:
        """True when `number` is in the band."""
        return self.low <= number <= self.high


def band_of(item: str) -> Band | None:
    """The band an item of a list states ("children 6 to 17 pay 9 dollars": 6-17), or
    None for an item without one (or one that is a price or a clock time's range)."""
    found = []
    for pattern, edges in ((_BETWEEN, lambda m: (int(m.group(1)), int(m.group(2)))),
                           (_BELOW, lambda m: (-math.inf, int(m.group(1)) - 1)),
                           (_ABOVE, lambda m: (int(m.group(1)) + 1, math.inf)),
                           (_FROM, lambda m: (int(m.group(1)), math.inf))):
        for match in pattern.finditer(item):
            if _priced(item, match.end()):
                continue
            found.append(edges(match))
    if len(found) != 1:
        return None
    low, high = found[0]
    return Band(item=item, low=low, high=high) if low <= high else None


def _priced(item: str, end: int) -> bool:
    """True when the number ending at `end` is a price or a clock time ("under 50
    dollars", "10 to 5 p.m."): a band of money is a condition's (reading.py), not an age's."""
    after = item[end:end + 12].lower()
    return bool(re.match(r"\s*(?:dollars?|\$|cents?|euros?|pounds?|percent|%|[ap]\.?\s?m\b)",
                         after)) or item[:end].rstrip()[-len("$0"):].startswith("$")


def states_range(text: str) -> bool:
    """True when `text` states a range of two numbers ("from 10 to 500 dollars", "6 to 17"),
    not a clock time's ("10 to 5 p.m.")."""
    return _BETWEEN.search(text) is not None


def bands_of(text: str) -> list[Band]:
    """The bands of a fact's text (its clauses, and their items between commas), when it
    lists two or more: one band alone is a condition, not a list."""
    items = [i.strip(" .") for clause in text.split(";") for i in clause.split(",") if i.strip(" .")]
    bands = [b for b in (band_of(i) for i in items) if b is not None]
    return bands if len(bands) >= 2 else []


def asked_number(message: str) -> float | None:
    """The one number the visitor states as an age or a count ("My son is twelve", "my
    three year old"), None for none, several, or one with another unit (a price, a time)."""
    numbers = [f for f in extract_facts(message)
               if f.kind == "number" and f.unit in _AGE_UNITS and len(f.values) == 1]
    if len(numbers) != 1:
        return None
    value = next(iter(numbers[0].values))
    return float(value) if value.isdigit() else None


def band_for(text: str, message: str) -> str | None:
    """The item of `text`'s bands that the number in `message` is in, when exactly one
    is; None otherwise (no number, no list of bands, none or several holding it)."""
    number = asked_number(message)
    if number is None:
        return None
    holding = [b for b in bands_of(text) if b.holds(number)]
    return holding[0].item if len(holding) == 1 else None
