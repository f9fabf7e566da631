"""Which of the recognizer's hypotheses the visitor most likely said: the file decides a near tie.

Whisper tiny.en mishears a word in a question the file answers ("How great are you open on
a Friday?", "Can I get the next ray done here?"), and the routing then finds no fact, or
sends the garbled question to the LLM. Its beam often holds the right words in another
hypothesis, scored just below ("How late are you open on a Friday?"). So where the best
hypothesis gets no answer from the file (the routing declines it or leaves it to the LLM)
and another, within `MARGIN` of its score and in other words, is answered from a fact by
the rules, that one is taken. Nothing else moves: a best hypothesis the rules answer, small
talk (the LLM's without a fact), a message of three words or fewer (a follow-up such as "For
how long?" leans on the visit, which is not read here) and a near hypothesis that is
declined or left to the LLM as well keep the best. A near hypothesis is never preferred for
finding *a* fact: only the rules' own answer, which needs the question's words to lead to
its fact, counts. docs/ANSWERS.md section 25 measures it on the tuning halves.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

from agent.answers.index import KnowledgeIndex
from agent.answers.lines import AnswerLines
from agent.answers.routing import TurnPlan, plan_turn
from agent.answers.shape import only_tells

#: how far below the best a hypothesis's score (whisper's mean token log-probability) may
#: be and still be taken: 0.1 keeps every tuning unknown declined once a yes/no question's
#: offered thing counts as unheld (sections 25-27); 0.2 answers one
MARGIN = 0.1

#: a message this short is kept as heard (a follow-up leans on the visit, not read here)
SHORT_WORDS = 3

_WORD = re.compile(r"[a-z0-9']+")

#: a hearing's plan, as `plan_turn(index, text)` makes it (`TurnPlans` keeps a turn's)
Planner = Callable[[str], TurnPlan]


class TurnPlans:
    """`plan_turn` of one file's index, each text's plan kept for a few texts: a turn's
    hearing is planned to choose among the recognizer's hypotheses, then read again to
    decide on a second opinion, and planned once. One per session's recognizer; the plan of
    a text without a visit depends on the index alone, so a kept one is the same plan."""

    #: the texts kept: one turn's hypotheses (whisper's beam of 5) and its second hearing
    KEPT = 8

    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index
        self._plan = functools.lru_cache(maxsize=self.KEPT)(functools.partial(plan_turn, index))

    def __call__(self, text: str) -> TurnPlan:
        """The plan of `text` (a whole message, no visit before it)."""
        return self._plan(text)


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def answered_by_rules(plan: TurnPlan, lines: AnswerLines) -> bool:
    """The rules say this plan's reply from a fact, with no decline in it."""
    return (plan.reply is not None and bool(plan.facts)
            and lines.dont_know not in plan.reply and lines.off_topic not in plan.reply)


def choose_heard(index: KnowledgeIndex, hypotheses: Sequence[tuple[str, float]],
                 margin: float = MARGIN, *, plan: Planner | None = None) -> str:
    """The text to take as the visitor's words: `hypotheses` (text, score), best first, as
    the recognizer ranked them; the best unless the module docstring's case holds. `plan`:
    how a text is planned (a `TurnPlans` keeps each for the turn's next reading; default
    `plan_turn` on `index`)."""
    plan = plan or functools.partial(plan_turn, index)
    if not hypotheses:
        return ""
    best, best_score = hypotheses[0]
    if len(_words(best)) <= SHORT_WORDS:
        return best
    near: list[str] = []
    seen = {_words(best)}
    for text, score in hypotheses[1:]:
        words = _words(text)
        if best_score - score <= margin and words and words not in seen:
            near.append(text)  # other words, not the best punctuated or cased otherwise
        seen.add(words)
    if not near:
        return best  # nothing to choose: the best is not even planned here
    lines = index.lines
    planned = plan(best)
    if planned.reply is None and planned.note is None:
        return best  # small talk, or the visit's own words asked back: the LLM's
    if planned.reply is not None and not planned.declines(lines):
        return best  # the file answers what was heard best (or part of it)
    for text in near:
        if answered_by_rules(plan(text), lines):
            return text
    return best


def wants_second_opinion(index: KnowledgeIndex, heard: str, *,
                         plan: Planner | None = None) -> bool:
    """Whether a larger recognizer should hear the utterance again: the file's rules leave
    `heard` (the hearing already chosen among the first recognizer's hypotheses) to the LLM,
    with a fact or as small talk (a question misheard as chatter looks like it), it is
    longer than a follow-up (which leans on the visit, not read here), and it may ask: a
    statement that asks nothing ("I lost my receipt.", `only_tells`) is not heard again,
    since a second hearing is taken only where the rules answer it as a question. A hearing
    the rules decline is not asked again: every unknown is declined, and a second hearing
    of it could only find a fact the visitor did not ask about (docs/ANSWERS.md sections
    26-28). `plan`: as for `choose_heard` (a `TurnPlans` reads the plan it made)."""
    if len(_words(heard)) <= SHORT_WORDS or only_tells(heard):
        return False
    return (plan or functools.partial(plan_turn, index))(heard).reply is None


def second_opinion(index: KnowledgeIndex, hypotheses: Sequence[tuple[str, float]],
                   margin: float = MARGIN, *, plan: Planner | None = None) -> str | None:
    """The larger recognizer's hearing to take instead of the first's: the one chosen
    among its `hypotheses` (text, score; best first) as `choose_heard` chooses, when the
    rules answer it from a fact; None (keep the first hearing) otherwise. `plan`: as for
    `choose_heard`."""
    plan = plan or functools.partial(plan_turn, index)
    chosen = choose_heard(index, hypotheses, margin, plan=plan)
    if len(_words(chosen)) <= SHORT_WORDS:
        return None
    return chosen if answered_by_rules(plan(chosen), index.lines) else None
