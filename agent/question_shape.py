"""What a visitor's question asks for: a yes or no, an amount, or something else.

Two facts about the kiosk's 0.5B model decide how a store question is answered
(docs/LLM_CHOICE.md, "Yes or no, and amounts"):
- **yes/no questions**: with the fact that says no written in front of the
  question ("Store fact: Personal checks: no, we do not accept personal
  checks."), it still answered "Yes, you can pay with a personal check": 13 of
  its 24 wrong fact answers began with "Yes". A yes/no question is answered by
  the operator's own sentence instead (`agent.knowledge_retrieval.spoken_fact`);
- **amounts**: asked "How much does a sofa cost?", it read the departments fact
  (furniture on the first floor) and invented "$10". A question that asks for an
  amount is answerable only by a fact that states one (`states_amount`).

Plain patterns on the words, no model: microseconds a message.
"""

from __future__ import annotations

import re

#: Words that open an English yes/no question ("Can I...", "Is there...", "Do you...").
_AUXILIARIES = frozenset(
    """is are am was were isn't aren't wasn't weren't do does did don't doesn't didn't
    can could can't couldn't will would won't wouldn't shall should shouldn't may might
    must have has had haven't hasn't""".split()
)
# The last sentence carries the question: "I lost my receipt. Can I still return this lamp?"
_SENTENCES = re.compile(r"[^.!?]+[.!?]*")
_FIRST_WORD = re.compile(r"[a-z']+")
#: "How much", "what does it cost", "the price of", "how expensive", "is there a fee".
_ASKS_AMOUNT = re.compile(
    r"\bhow much\b|\bcosts?\b|\bprice of\b|\bhow expensive\b|\bfees?\b|\bwhat do(es)? .* charge\b",
    re.IGNORECASE,
)
#: An amount a fact can state: a number, a number word, "free", a currency or percent.
_STATES_AMOUNT = re.compile(
    r"\d|\$|€|£|\bfree\b|\bdollars?\b|\bcents?\b|\bpercent\b|\b(one|two|three|four|five|six|"
    r"seven|eight|nine|ten|twenty|fifty|hundred|thousand)\b",
    re.IGNORECASE,
)


def last_sentence(message: str) -> str:
    """The message's last non-empty sentence (where a spoken question is)."""
    sentences = [s.strip() for s in _SENTENCES.findall(message) if s.strip(" .!?")]
    return sentences[-1] if sentences else message.strip()


def is_yes_no_question(message: str) -> bool:
    """True when the message ends in a yes/no question ("Can I bring my dog?")."""
    first = _FIRST_WORD.match(last_sentence(message).lower().replace("\u2019", "'"))
    return first is not None and first.group(0) in _AUXILIARIES


def asks_for_amount(message: str) -> bool:
    """True when the message asks for a price or another amount ("How much is...")."""
    return _ASKS_AMOUNT.search(message) is not None


def states_amount(fact: str) -> bool:
    """True when a fact states an amount (a number, "free", dollars, percent)."""
    return _STATES_AMOUNT.search(fact) is not None

