"""What a pronoun in a visitor's question stands for: the thing asked about before (a
follow-up), a thing the question itself names before it, or the act after an empty "it"
("How much is it to park?"). The routing (agent/answers/routing.py) and the value rule
(agent/answers/rules.py) read it.
"""

from __future__ import annotations

import re

from agent.answers.index import KnowledgeIndex, asked_part, phrasal_verbs, terms

# A question whose subject is a pronoun ("And until what time is it open?" after "Where
# is the cafe?"): the question alone does not say which thing, and so which fact.
_PRONOUN = re.compile(r"\b(?:it|its|they|them|those)\b", re.IGNORECASE)
# "it" that stands for nothing before it, but for the verb after it: "How much is it to
# park?", "Does it cost anything to join?", "How long does it take to get there?", "How much
# is it for a grown-up to get in?"
_EMPTY_IT = re.compile(r"\bit\s+(?:(?:costs?|takes?)\s+(?:\w+\s+)?)?(?:for\s+(?:[\w'-]+\s+){1,3}?)?"
                       r"to\s+(\w+)", re.IGNORECASE)


def refers_back(sentence: str) -> bool:
    """True when `sentence` speaks of a thing through a pronoun (it, they, them ...), not
    counting an "it" that stands for the verb after it ("How much is it to park?")."""
    return _PRONOUN.search(_EMPTY_IT.sub(" ", sentence)) is not None


#: the visitor's own thing named: "my car", "our bikes"
_OWN_THING = re.compile(r"\b(?:my|our)\s+[a-z]+", re.IGNORECASE)


def names_before_pronoun(index: KnowledgeIndex, sentence: str, fact: str) -> bool:
    """True when `sentence` names a thing of the fact before its pronoun, so the pronoun
    stands for that thing, not for the question before ("If I order a model kit now, how long
    till it arrives?" and a fact about model kits; not "And until what time is it open?")."""
    pronoun = _PRONOUN.search(_EMPTY_IT.sub(" ", sentence))
    if pronoun is None:
        return False
    before = _EMPTY_IT.sub(" ", sentence)[:pronoun.start()]
    if _OWN_THING.search(before) and index.retrieve(sentence).facts[:1] == (fact,):
        return True  # "Where can I leave my van, and is it free?": the visitor's own thing
    return bool(set(index.query_terms(before)) & set(index.lexical_terms(fact)))


def asks_of_another_act(index: KnowledgeIndex, sentence: str, fact: str) -> bool:
    """True when the "it" of `sentence` stands for an act the fact does not speak of
    ("How much does it cost to become a member?" and "members get in free": the price
    of entry, not of becoming one), so the fact's value is not the answer."""
    if phrasal_verbs(sentence) & phrasal_verbs(fact):
        return False  # "to get in" of a fact saying who gets in
    verbs = [m.group(1) for m in _EMPTY_IT.finditer(sentence)]
    held = set(index.lexical_terms(fact))
    return any(not set(index.query_terms(verb)) & held for verb in verbs)


#: a question whose subject is a pronoun for a person or an animal named before it in the
#: same message ("I have a hearing dog, is he allowed in?"): "is he", "can she", "will they"
_SUBJECT_PRONOUN = re.compile(r"\b(?:is|are|can|could|will|would|may|does|do)\s+(he|she|they)\b",
                              re.IGNORECASE)
#: a thing named with its article or owner ("a hearing dog", "my son"): up to two words
_NAMED_THING = re.compile(r"\b(?:a|an|my|our|the)\s+([a-z]+)(?:\s+([a-z]+))?\b", re.IGNORECASE)


def with_thing_named(message: str) -> str | None:
    """The message's question (`asked_part`) with its subject pronoun written as the thing
    the message named before it ("is a hearing dog allowed in?" of "I'm deaf and have a
    hearing dog, is he allowed in?"): the whole message, its situation told first, is far in meaning
    from the fact the question is about. None where the question has no such pronoun or
    nothing is named before it."""
    question = asked_part(message)
    pronoun = _SUBJECT_PRONOUN.search(question)
    start = message.rfind(question)
    if pronoun is None or start <= 0:
        return None
    named = _NAMED_THING.findall(message[:start])
    if not named:
        return None
    first, second = named[-1]
    thing = f"{first} {second}" if second and terms(second) else first  # "my son is": "son"
    return (question[:pronoun.start(1)] + f"a {thing}" + question[pronoun.end(1):]).strip()
