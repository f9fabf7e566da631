"""General English the rules read words against: the commonest words, and the calendar.

The commonest words come from the PyPI package wordfreq (its top 5,000 for English, in
agent/data/common_english_words.txt): a word among them says little alone ("bring",
"day"), a rarer one names a thing ("wrapping", "Spanish").
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

#: the commonest English words, most common first (wordfreq's list: general English)
COMMON_WORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "common_english_words.txt"

#: days and months: names every file may leave out without being about something else
CALENDAR = frozenset("""monday tuesday wednesday thursday friday saturday sunday january
    february march april may june july august september october november december""".split())

#: words that stand for a thing the speaker does not name ("the photocopier thingy"): they
#: name no topic of their own, the words before them do
PLACEHOLDER_WORDS = frozenset("""thing things thingy thingies thingie thingamajig
    thingamabob thingummy whatsit whatsits whatchamacallit doohickey doodah gizmo stuff""".split())


@cache
def common_words(top: int) -> frozenset[str]:
    """The `top` commonest English words."""
    lines = COMMON_WORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset([w for w in lines if w and not w.startswith("#")][:top])
