"""A turn's sentence encodings made ahead of its routing, in a worker thread
(agent/answers/routing.py `prepare_turn`): the routing after it decides the same and
encodes nothing; several threads preparing at once leave the index's caches whole. On
the shipped store's file, the real encoder and the system's WordNet where it has one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import agent.answers.index as index_module
from agent import PersonaSettings
from agent.answers.index import KnowledgeIndex
from agent.answers.plan import TurnPlan
from agent.answers.routing import plan_turn, prepare_turn, with_notes
from agent.answers.thesaurus import Thesaurus
from agent.sentence_embedding import SentenceEncoder

# one visit: words the file does not use ("pushchair", "loo", "kip"), two questions in one,
# a follow-up, small talk, a thing the file lacks and an earlier value asked back
VISIT = ["Hi there!", "Is there a loo I could use?", "Can I bring the pushchair in?",
         "What time do you open on Sunday and is the parking free?", "For how long?",
         "My locker is 42.", "Do you do gift wrapping?", "What was my locker number again?",
         "Can I kip in the furniture section?", "Do you take a cheque?"]


@pytest.fixture
def fresh_index(encoder: SentenceEncoder) -> Callable[[], KnowledgeIndex]:
    """A new index of the shipped store (nothing learnt yet), as the product builds one."""
    thesaurus = Thesaurus.system()

    def build() -> KnowledgeIndex:
        return KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=encoder,
                                        thesaurus=thesaurus)

    return build


def turns(visit: list[str]) -> Iterator[tuple[str, str | None, list[str], list[Any]]]:
    """Each turn of `visit` as the injector routes it: the message, the one before it,
    the visit before it and the request's messages (earlier answers in between)."""
    messages: list[Any] = []
    for i, message in enumerate(visit):
        messages.append({"role": "user", "content": message})
        yield message, visit[i - 1] if i else None, visit[:i], list(messages)
        messages.append({"role": "assistant", "content": f"answer {i}"})


def route(index: KnowledgeIndex, message: str, previous: str | None, visit: list[str],
          messages: list[Any]) -> tuple[TurnPlan, list[Any] | None]:
    """The turn's plan and, where the LLM answers, its request's notes (the injector's calls)."""
    plan = plan_turn(index, message, previous, visit=visit)
    return plan, with_notes(index, messages) if plan.reply is None else None


class CountedEncodes:
    """The real encoder's `encode`, counting its calls (an observation: it still encodes)."""

    def __init__(self, encoder: SentenceEncoder) -> None:
        self.real = encoder.encode
        self.calls = 0

    def __call__(self, texts: list[str]) -> Any:
        self.calls += 1
        return self.real(texts)


def test_a_prepared_turn_is_routed_as_an_unprepared_one(
        fresh_index: Callable[[], KnowledgeIndex]) -> None:
    plain, prepared = fresh_index(), fresh_index()
    for message, previous, visit, messages in turns(VISIT):
        made = prepare_turn(prepared, message, previous, visit=visit, messages=messages)
        assert made == plan_turn(plain, message, previous, visit=visit), message
        assert (route(prepared, message, previous, visit, messages)
                == route(plain, message, previous, visit, messages)), message


def test_without_an_encoder_nothing_is_made_ahead() -> None:
    """A words-only index has nothing slow to move off the loop: the caller plans there."""
    index = KnowledgeIndex.from_file(PersonaSettings().knowledge_file)
    assert prepare_turn(index, VISIT[1], messages=[{"role": "user", "content": VISIT[1]}]) is None


def test_after_its_preparation_the_routing_encodes_nothing(
        fresh_index: Callable[[], KnowledgeIndex], encoder: SentenceEncoder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    index = fresh_index()
    counted = CountedEncodes(encoder)
    monkeypatch.setattr(encoder, "encode", counted)
    for message, previous, visit, messages in turns(VISIT):
        before = counted.calls
        prepare_turn(index, message, previous, visit=visit, messages=messages)
        made = counted.calls - before
        route(index, message, previous, visit, messages)
        assert counted.calls - before == made, f"{message!r} encoded on the routing's side"
    assert counted.calls > len(VISIT)  # the preparations did encode: the words, the parts


def test_threads_preparing_at_once_leave_the_caches_whole(
        fresh_index: Callable[[], KnowledgeIndex], monkeypatch: pytest.MonkeyPatch) -> None:
    """Four threads prepare a session's turns each while this one routes another's, with
    room for 4 questions' cosines (questions pushed out while others are read): no thread
    fails, every plan is the one a lone index makes, and each kept cosine is the one a
    lone index computes for its text."""
    monkeypatch.setattr(index_module, "COSINES_KEPT", 4)
    shared, alone = fresh_index(), fresh_index()
    sessions = [VISIT[i::4] for i in range(4)]
    failures: list[BaseException] = []

    def prepare(visit: list[str]) -> None:
        try:
            for message, previous, before, messages in turns(visit):
                prepare_turn(shared, message, previous, visit=before, messages=messages)
        except BaseException as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=prepare, args=(visit,)) for visit in sessions]
    for thread in threads:
        thread.start()
    routed = [route(shared, *turn) for turn in turns(VISIT[::-1])]
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    assert routed == [route(alone, *turn) for turn in turns(VISIT[::-1])]
    for visit in sessions:
        for message, previous, before, messages in turns(visit):
            assert route(shared, message, previous, before, messages) == route(
                alone, message, previous, before, messages), message
    kept = dict(shared._cosines)
    assert 0 < len(kept) <= 4
    for text, cosines in kept.items():
        assert cosines == pytest.approx(alone.semantic_scores(text), abs=1e-6), text
