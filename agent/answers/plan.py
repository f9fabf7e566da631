"""A turn's plan: what the kiosk does with one visitor message (ask the LLM with a note of
facts, or say a reply without it), and the facts it is answered from.

The routing (agent/answers/routing.py) makes it, its answer rules (agent/answers/rules.py)
end a turn with one, the guard (agent/answers/guard.py) reads its facts.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.answers.lines import AnswerLines
from agent.answers.reading import fact_answer_word
from agent.answers.shape import is_yes_no_question

#: after a yes/no question's note only (in the system prompt the small model opened
#: wh-replies with "Yes" too), so the note's cached prefix holds; "then say ...": asked for
#: yes or no alone, it answered with the bare word (docs/ANSWERS.md)
YES_NO_HINT = ("Begin your answer with Yes or No, then say what the facts say in a short "
               "sentence.\n")
#: after a yes/no question's note when no noted fact says a yes or no to it
#: (`reading.fact_answer_word`): the rules found none to say, so the model is not asked for
#: one (the guard could not check it), only for what the facts say
OPEN_HINT = "Say what the facts say about it in one short sentence.\n"


@dataclass(frozen=True)
class TurnPlan:
    """How to answer one message: ask the LLM (with `note` written in front of the
    message, if any), or say `reply` without the LLM; `facts`: the facts the turn is
    answered from (what a value in the reply may come from: agent/answers/guard.py)."""

    note: str | None = None
    reply: str | None = None
    facts: tuple[str, ...] = ()

    def message(self, text: str) -> str:
        """The user message the LLM reads: `note` + `text` (just `text` without a note),
        with `YES_NO_HINT` between them for a yes/no question a noted fact says a yes or no
        to, `OPEN_HINT` for any other yes/no question (no yes or no the file gives)."""
        if not self.note:
            return text
        hint = ""
        if is_yes_no_question(text):
            answered = any(fact_answer_word(fact, text) for fact in self.facts)
            hint = YES_NO_HINT if answered else OPEN_HINT
        return f"{self.note}{hint}{text}"

    def declines(self, lines: AnswerLines) -> bool:
        """The reply is only a line the kiosk says where the file does not answer (the
        don't-know or off-topic line), no fact's answer."""
        return self.reply is not None and self.reply.strip() in (lines.dont_know, lines.off_topic)


#: a rule's "the facts found do not answer this": the caller says its don't-know line
DECLINE = TurnPlan()


def said_plan(fact: str, reply: str) -> TurnPlan:
    """A plan that says `reply`, answered from `fact`."""
    return TurnPlan(reply=reply, facts=(fact,))
