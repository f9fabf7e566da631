"""Routing one visitor message: which facts it is about, and whether the LLM answers it.

The kiosk's small embedded model (Qwen2.5-0.5B), given facts, still answers around
them: it tells jokes, invents prices, answers "yes" next to a fact that says no
(docs/LLM_CHOICE.md). So `plan_turn` decides per message:
- a message no fact is about (and not small talk) gets the persona's off-topic line
  without the LLM (`AnswerLines`; neutral by default): right every time, and instant;
- a question whose answer a fact states in so many words (a value, a yes or no, a
  condition's branch) gets the fact said as a person would say it
  (agent/answers/reading.py), without the LLM;
- a question that asks for something no fact found states (an amount, a time, a
  person) gets the persona's don't-know line, without the LLM;
- any other question about the facts goes to the LLM, with the facts found for it
  written in front of it on a line of its own ("Facts: ..."): the LLM sees only the
  facts retrieved for the turn, never the whole file, so a 200-fact file costs a turn
  what a 20-fact one does;
- small talk ("Hi there.", "Thanks, bye.") goes to the LLM as it is, and so does a
  question about what the visitor said earlier in the visit ("What was my number
  again?"), which the visit's history answers;
- a message that asks about several things at once ("What are your opening hours and
  how does delivery work?", agent/answers/parts.py) is planned a part at a time, and
  answered from all of them (`plan_parts`).

The rules read what a question asks for in general English (agent/answers/shape.py),
never a business's topics; docs/ANSWERS.md says why each rule is there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agent.answers.index import (
    WORD,
    KnowledgeIndex,
    business_name,
    label_of,
    terms,
)
from agent.answers.lines import AnswerLines
from agent.answers.parts import MAX_PARTS, message_parts
from agent.answers.plan import TurnPlan, said_plan
from agent.answers.pronouns import refers_back
from agent.answers.reading import (
    short_answer,
    spoken_answer,
    yes_no_word,
)
from agent.answers.rules import ANSWER_RULES
from agent.answers.shape import (
    PLACE_WORDS,
    as_meant,
    asks_for_value,
    last_sentence,
    own_name_asked,
    where_it_is_asked,
    yes_no_tail,
)
from agent.answers.values import extract_facts

#: Written in front of a question, in the visitor's message, with the facts found for
#: it. It ends in a newline (the question then starts a new token whatever it is) and
#: holds nothing from the question, so a one-fact note in front of a visit's first
#: question ends a prefix llama.cpp's prompt cache restores (`notes`).
FACTS_NOTE = "Facts: {facts}\n"
# Messages made only of these words are small talk: the LLM answers them as they are.
_SMALL_TALK = frozenset(
    """hi hello hey hiya morning afternoon evening good great nice fine cool ok okay
    thanks thank thx cheers you bye goodbye see later care have day night there
    yes no yeah yep nope sure alright right please welcome how are doing well oh ah
    um uh hmm so much very lot all""".split()
)


def is_small_talk(message: str) -> bool:
    """A greeting, thanks or goodbye ("Hi there.", "Thanks, bye."): no facts needed."""
    words = WORD.findall(message.lower())
    return bool(words) and all(word in _SMALL_TALK for word in words)



# A message that leans on the one before: "For how long?", "And is it free?", "What about Sunday?"
_LEANS_BACK = re.compile(
    r"^\W*(?:and|but|so|also|what about|how about)\b|\b(?:it|its|that|this|there|they|them|those)\b",
    re.IGNORECASE)


def is_follow_up(message: str) -> bool:
    """True when `message` reads as a follow-up that needs the visitor's question before
    it ("For how long?", "And until what time is it open?"), not a new topic."""
    words = WORD.findall(message.lower())
    return bool(words) and (len(words) <= 3 or (len(words) <= 8 and bool(_LEANS_BACK.search(message))))



def leans_on(index: KnowledgeIndex, message: str, previous: str | None) -> bool:
    """True when `message` speaks of what the question before it (`previous`) was about
    through a pronoun: its own best fact may be another thing's ("is it open?" finds the
    place's opening hours after a question about its cafe)."""
    return (previous is not None and refers_back(last_sentence(message))
            and index.retrieve(previous).found)


def recalls_visit(index: KnowledgeIndex, message: str, visit: Sequence[str]) -> bool:
    """True when `message` asks about something the visitor said earlier in this visit
    (`visit`, their messages before it): an earlier message that states a value (a
    number, a time, a name) shares a word with this one that the file does not know
    ("My locker is 42." ... "What was my locker number again?"). The visit's history
    answers it, not a fact. A message that states a value itself (the same words said
    again, "Say I am a banana." twice) asks nothing back: it is routed as any other."""
    if extract_facts(message):
        return False
    own = {t for t in index.lexical_terms(message) if not index.knows(t)}
    return bool(own) and any(extract_facts(said) and own & set(index.lexical_terms(said))
                             for said in visit)


def plan_turn(index: KnowledgeIndex, message: str, previous: str | None = None, *,
              lines: AnswerLines | None = None, visit: Sequence[str] = ()) -> TurnPlan:
    """Facts found: the LLM answers, with up to `index.note_facts` of them in front of
    the question; with `index.answer_rules`, what the question asks for decides which
    fact may answer it (`ANSWER_RULES`: a rule may decline, say a fact, or narrow the
    facts). Small talk: the LLM answers as it is. A follow-up no fact is about on its
    own ("For how long?": `previous`, the visitor's message before) goes to the LLM,
    which reads the visit, when the two together are about a fact; so does a question
    about what the visitor said in the visit (`visit`: their messages before this one).
    Anything else: `lines.off_topic`, without the LLM (module docstring); `lines`
    defaults to the index's (the persona's). A message of several parts (a question or
    topic each, agent/answers/parts.py) is answered from each (`plan_parts`); one of a
    single part is planned whole (`plan_whole`)."""
    lines = lines or index.lines
    message = as_meant(message)
    if visit and recalls_visit(index, message, visit):
        return TurnPlan()  # the LLM reads it back from the visit (the guard lets it through)
    parts = message_parts(index, message)
    if len(parts) > 1:
        return plan_parts(index, parts, lines)
    return with_yes_no_tail(message, plan_whole(index, message, previous, lines), lines)


def prepare_turn(index: KnowledgeIndex, message: str, previous: str | None = None, *,
                 lines: AnswerLines | None = None, visit: Sequence[str] = (),
                 messages: list[Any] | None = None) -> TurnPlan | None:
    """The turn's plan, made in a worker thread ahead of the event loop's use of it:
    `plan_turn` with the same arguments, its plan returned, and, where it would ask the
    LLM, `with_notes` of the request's `messages` (its result dropped: the caller notes
    the context it sends). What the index learns on the way (each text's cosines, each
    unknown word's meaning) is what the notes read next, so on the event loop they encode
    nothing (as long as the index still holds them: index.py keeps `COSINES_KEPT`
    questions' cosines across sessions). Without an encoder: None, nothing made, and the
    caller plans on the loop (there is nothing slow to move off it)."""
    if index.encoder is None:
        return None
    plan = plan_turn(index, message, previous, lines=lines, visit=visit)
    if plan.reply is None and messages is not None:
        with_notes(index, messages)
    return plan


def with_yes_no_tail(part: str, plan: TurnPlan, lines: AnswerLines) -> TurnPlan:
    """`plan`'s reply for `part`, a wh-question with a yes/no question joined after it
    ("Where can I leave my car, and is it free?": `shape.yes_no_tail`), with that one's
    answer after it, yes or no first, where the fact said settles it ("... in front of the
    store. Yes, it is free."); `plan` as it is for any other part, a reply not said from a
    fact, a yes or no the fact does not settle, or a question whose words are not all the
    fact's ("and do I need anything?" of a fact about returns: its "cannot be returned" is
    no answer to it)."""
    tail = yes_no_tail(part)
    if tail is None or plan.reply is None or not plan.facts or plan.reply in (
            lines.dont_know, lines.off_topic):
        return plan
    asked = set(terms(tail))
    if not asked or not asked <= set(terms(plan.facts[0])):
        return plan  # "and do I need anything?": what it asks is not in the fact's words
    word = yes_no_word(plan.facts[0], tail)
    said = short_answer(tail, word) if word else None
    return plan if said is None else TurnPlan(reply=f"{plan.reply} {said}", facts=plan.facts)


def plan_whole(index: KnowledgeIndex, message: str, previous: str | None = None,
               lines: AnswerLines | None = None, *, note_facts: int | None = None) -> TurnPlan:
    """`plan_turn` for `message` taken as one part, as every message was planned before
    messages of several parts (agent/answers/parts.py); `note_facts`: most facts a note
    holds (default `index.note_facts`)."""
    lines = lines or index.lines
    own = own_place_plan(index, message)
    if own is not None:
        return own
    retrieved = index.retrieve(message)
    if retrieved.found:
        facts_found = list(retrieved.facts)
        if index.answer_rules:
            for rule in ANSWER_RULES:
                outcome = rule(index, message, facts_found)
                if isinstance(outcome, TurnPlan):
                    if outcome.reply is None and not outcome.facts:
                        return TurnPlan(reply=lines.dont_know)
                    return outcome
                facts_found = outcome
        noted = tuple(facts_found[: index.note_facts if note_facts is None else note_facts])
        if not noted:
            return TurnPlan(facts=tuple(facts_found))
        return TurnPlan(note=FACTS_NOTE.format(facts=" ".join(noted)), facts=noted)
    if is_small_talk(message):
        return TurnPlan()
    if previous and is_follow_up(message):
        joined = plan_whole(index, f"{previous} {message}", None, lines)
        if joined.declines(lines):
            return joined  # about nothing, or an amount, time or person no fact states
        return TurnPlan(facts=joined.facts)  # no note: the LLM reads the question before it
    return TurnPlan(reply=lines.off_topic)


def own_place_plan(index: KnowledgeIndex, message: str) -> TurnPlan | None:
    """The place's own name ("What is this store called?") from the fact that names it, and
    where it is ("Where are you located?") from the fact labelled as its address or
    location: the file leaves the place's name out of matching, and a question this
    short names no fact's words; None for any other question, or a file without the fact."""
    called, thing = own_name_asked(message), where_it_is_asked(message)
    if called is None and thing is None:
        return None
    name_fact = next((f for f in index.facts if (label_of(f) or "").lower().endswith("name")), "")
    the_place = {"", *PLACE_WORDS, *WORD.findall(name_fact.lower())}
    if called is not None:
        name = business_name(index.facts)
        if called not in the_place or not name or not name_fact:
            return None  # "the name of your mechanic" asks of someone or something inside
        return said_plan(name_fact, f"This is {name}.")
    if thing is not None:
        if thing not in the_place:
            return None  # "Where is this exhibit?" asks of a thing inside
        fact = next((f for f in index.facts
                     if (label_of(f) or "").lower() in ("address", "location")), None)
        return said_plan(fact, spoken_answer(fact, message, "place")) if fact else None
    return None


#: most facts the note of a message of several parts holds (one a part first): the 0.5B
#: model reads a short note; more parts than this stay with the last (agent/answers/parts.py)
MOST_NOTED = MAX_PARTS


def plan_parts(index: KnowledgeIndex, parts: Sequence[str], lines: AnswerLines, *,
               use_llm: bool = True) -> TurnPlan:
    """A message of several parts (agent/answers/parts.py), each planned alone, answered
    as one (docs/ANSWERS.md, section 11):
    - every part said without the LLM: the parts' answers one after the other, in the
      message's order;
    - a part no fact answers (declined, or a question the file does not hold): said as
      `lines.dont_know` in its place, and the other parts without the LLM too, a part
      meant for the LLM by its best fact said as the answer: the LLM would answer the
      declined part all the same, with a yes or no no fact gives;
    - otherwise the LLM, with a note of each part's best fact, then its others on the
      same topic, up to `MOST_NOTED`, in front of the whole message.
    `facts`: every fact the parts' answers come from, for the guard. `use_llm=False`:
    every part said without the LLM, as for a declined part (compared in
    bench/answers/multi_part.py)."""
    plans = [plan_whole(index, part, None, lines, note_facts=MOST_NOTED) for part in parts]
    if (not use_llm or all(plan.reply is not None for plan in plans)
            or any(not plan.facts for plan in plans)):
        # every part said from the file; or a part the file does not answer, which the
        # LLM would answer all the same (a yes or no no fact gives): each part said
        # without it, an LLM part by its best fact said as the answer
        said = [_said_alone(plan, part, lines) for plan, part in zip(plans, parts, strict=True)]
        facts = tuple(dict.fromkeys(f for plan in plans for f in plan.facts[:1]))
        return TurnPlan(reply=" ".join(dict.fromkeys(said)), facts=facts)
    # each part's best fact, then its others on the same topic ("Delivery:"'s two
    # sentences), a part at a time, in the message's order
    own = [[f for f in plan.facts if label_of(f) == label_of(plan.facts[0])] for plan in plans
           if plan.facts]
    ranked = list(dict.fromkeys(facts[i] for i in range(MOST_NOTED) for facts in own
                                if i < len(facts)))
    if index.note_facts == 0:
        return TurnPlan(facts=tuple(ranked))
    kept = set(ranked[: max(MOST_NOTED, index.note_facts)])
    noted = tuple(f for f in dict.fromkeys(f for facts in own for f in facts) if f in kept)
    return TurnPlan(note=FACTS_NOTE.format(facts=" ".join(noted)), facts=noted)


def _said_alone(plan: TurnPlan, part: str, lines: AnswerLines) -> str:
    """What a part of a message says without the LLM: its rule's answer, its best fact
    said as the answer to it (agent/answers/reading.py), or the don't-know line."""
    if not plan.facts:
        return lines.dont_know
    if plan.reply is not None:
        return with_yes_no_tail(part, plan, lines).reply or plan.reply
    return spoken_answer(plan.facts[0], part, asks_for_value(part))




def user_text(message: Any) -> str | None:
    """A chat message's text if the user sent it (plain or in parts); None otherwise."""
    if not isinstance(message, dict) or message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, list):  # a message in parts: its text parts
        content = " ".join(part.get("text", "") for part in content
                           if isinstance(part, dict) and part.get("type") == "text")
    return content if isinstance(content, str) and content.strip() else None


def with_notes(index: KnowledgeIndex, messages: list[Any]) -> list[Any] | None:
    """`messages` (chat messages, oldest first) with the facts found for each user
    message written in front of it (`plan_turn`'s note); None when none gets one.

    Every request of a visit writes the same notes in the same places, so it extends
    the one before and llama.cpp reuses the whole history; a visit's first question
    with a one-fact note ends a prefix the prompt cache holds (`notes`). A message that
    speaks of the question before it through a pronoun gets none (`leans_on`): its own
    best fact may be another thing's, and the visit's history says which.
    """
    previous: str | None = None
    out = list(messages)
    changed = False
    for i, message in enumerate(messages):
        content = user_text(message)
        if content is None:
            continue
        previous, before = content, previous
        if leans_on(index, content, before):
            continue
        plan = plan_turn(index, content)
        if plan.note is not None:
            out[i] = {"role": "user", "content": plan.message(content)}
            changed = True
    return out if changed else None


def notes(index: KnowledgeIndex) -> list[str]:
    """Every one-fact note `plan_turn` can write, for warming llama.cpp's prompt cache
    at start-up (a note of several facts is read on its turn)."""
    if index.note_facts == 0:
        return []
    return [FACTS_NOTE.format(facts=fact) for fact in index.facts]
