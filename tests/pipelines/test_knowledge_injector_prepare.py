"""The injector makes a turn's sentence encodings in a worker thread before routing it
(pipelines/turns/knowledge_injector.py): what arrives while they are made. A guess
withdrawn meanwhile is not answered, a guessed turn that ended meanwhile has its fixed
reply said, and an encoder that fails in the thread leaves the routing to do it as
before. The shipped store's index with the real encoder; the thread's encodings wait
(an event, then the real encoder) until the frame under test has passed the injector,
sent a moment after the request (pipecat handles a system frame ahead of the frames
queued before it: one sent with the request may pass before the request's handling
starts, as it could before the encodings moved to a thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from pipecat.frames.frames import (
    EagerEndOfTurnCancelFrame,
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.tests.utils import SleepFrame, run_test

from agent import PersonaSettings
from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder
from pipelines.turns.knowledge_injector import KnowledgeInjector

OFF_TOPIC = "Tell me a joke about the weather please."


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


@pytest.fixture
def fresh_index(encoder: SentenceEncoder) -> Callable[[], KnowledgeIndex]:
    """A new index of the shipped store by words and meaning (nothing learnt yet)."""
    return lambda: KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=encoder)


class Seen(FrameProcessor):
    """Passes every frame on; `seen` is set once a frame of `kind` went by."""

    def __init__(self, kind: type[Frame]) -> None:
        super().__init__()
        self.kind = kind
        self.seen = threading.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, self.kind):
            self.seen.set()
        await self.push_frame(frame, direction)


def encodes_after(event: threading.Event, encoder: SentenceEncoder,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoder's calls off the event loop's thread wait for `event`, then encode."""
    real = encoder.encode
    loop_thread = threading.current_thread()

    def encode(texts: list[str]) -> Any:
        if threading.current_thread() is not loop_thread:
            assert event.wait(timeout=10), "the frame under test never passed"
        return real(texts)

    monkeypatch.setattr(encoder, "encode", encode)


def speculative(question: str) -> LLMContextFrame:
    return LLMContextFrame(context=LLMContext([{"role": "user", "content": question}]),
                           speculation=True)


@pytest.mark.parametrize("question", [OFF_TOPIC, "Tell me about the restrooms."])
async def test_a_guess_withdrawn_while_its_encodings_are_made_is_not_answered(
        fresh_index: Callable[[], KnowledgeIndex], encoder: SentenceEncoder,
        monkeypatch: pytest.MonkeyPatch, question: str) -> None:
    """Neither its fixed reply (held, then said at the next turn's end) nor its request
    to the LLM (which the withdrawal has already passed) goes on."""
    seen = Seen(EagerEndOfTurnCancelFrame)
    encodes_after(seen.seen, encoder, monkeypatch)
    injector = KnowledgeInjector(index=fresh_index())
    down, _ = await run_test(Pipeline([injector, seen]),
                             frames_to_send=[speculative(question), SleepFrame(0.1),
                                             EagerEndOfTurnCancelFrame(), SleepFrame(0.1),
                                             UserStoppedSpeakingFrame()],
                             expected_down_frames=None)
    assert [type(f) for f in down] == [EagerEndOfTurnCancelFrame, UserStoppedSpeakingFrame]
    assert injector.answered_without_llm == 0


async def behind_an_earlier_request(index: KnowledgeIndex, encoder: SentenceEncoder,
                                    monkeypatch: pytest.MonkeyPatch, question: str,
                                    after: Frame) -> tuple[KnowledgeInjector, list[Frame]]:
    """A guess of `question` sent while an earlier request (off-topic) is being planned,
    then `after`, which pipecat handles at once, before the guess leaves the queue; the
    earlier request's encodings wait until `after` has passed. Then a turn's end."""
    seen = Seen(type(after))
    encodes_after(seen.seen, encoder, monkeypatch)
    injector = KnowledgeInjector(index=index)
    earlier = LLMContextFrame(context=LLMContext([{"role": "user", "content": OFF_TOPIC}]))
    down, _ = await run_test(Pipeline([injector, seen]),
                             frames_to_send=[earlier, speculative(question), SleepFrame(0.1),
                                             after, SleepFrame(0.3), UserStoppedSpeakingFrame()],
                             expected_down_frames=None)
    return injector, down


REPLY = [LLMFullResponseStartFrame, LLMTextFrame, LLMFullResponseEndFrame]


@pytest.mark.parametrize("question", [OFF_TOPIC, "Tell me about the restrooms."])
async def test_a_guess_withdrawn_while_it_waits_behind_another_request_is_not_answered(
        fresh_index: Callable[[], KnowledgeIndex], encoder: SentenceEncoder,
        monkeypatch: pytest.MonkeyPatch, question: str) -> None:
    """The guess is judged by what arrived after it: the withdrawal was handled before
    it, and it is dropped all the same (only the earlier request is answered)."""
    injector, down = await behind_an_earlier_request(
        fresh_index(), encoder, monkeypatch, question, EagerEndOfTurnCancelFrame())
    assert [type(f) for f in down] == [EagerEndOfTurnCancelFrame, *REPLY,
                                       UserStoppedSpeakingFrame]
    assert down[2].text == plan_turn(fresh_index(), OFF_TOPIC).reply
    assert injector.answered_without_llm == 1


async def test_a_guessed_turn_that_ends_while_it_waits_behind_another_request_is_answered(
        fresh_index: Callable[[], KnowledgeIndex], encoder: SentenceEncoder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The turn's end was handled before the guess: its fixed reply is said when it is
    planned, not held for an end that has already passed."""
    injector, down = await behind_an_earlier_request(
        fresh_index(), encoder, monkeypatch, OFF_TOPIC, UserStoppedSpeakingFrame())
    assert [type(f) for f in down] == [UserStoppedSpeakingFrame, *REPLY, *REPLY,
                                       UserStoppedSpeakingFrame]
    assert injector.answered_without_llm == 2


async def test_a_guessed_turn_that_ends_while_its_encodings_are_made_is_answered(
        fresh_index: Callable[[], KnowledgeIndex], encoder: SentenceEncoder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = Seen(UserStoppedSpeakingFrame)
    encodes_after(seen.seen, encoder, monkeypatch)
    injector = KnowledgeInjector(index=fresh_index())
    down, _ = await run_test(Pipeline([injector, seen]),
                             frames_to_send=[speculative(OFF_TOPIC), SleepFrame(0.1),
                                             UserStoppedSpeakingFrame()],
                             expected_down_frames=None)
    assert [type(f) for f in down] == [UserStoppedSpeakingFrame, LLMFullResponseStartFrame,
                                       LLMTextFrame, LLMFullResponseEndFrame]
    assert down[2].text == plan_turn(fresh_index(), OFF_TOPIC).reply


@pytest.mark.parametrize("question", [OFF_TOPIC, "Tell me about the restrooms."])
async def test_an_encoder_failing_in_the_thread_leaves_the_routing_as_it_was(
        fresh_index: Callable[[], KnowledgeIndex], encoder: SentenceEncoder,
        monkeypatch: pytest.MonkeyPatch, question: str) -> None:
    """The encoder raises off the loop's thread only: the routing on the loop encodes
    what it needs itself and sends what an index never prepared sends."""

    async def sent(index: KnowledgeIndex) -> list[Any]:
        frame = LLMContextFrame(context=LLMContext([{"role": "user", "content": question}]))
        down, _ = await run_test(KnowledgeInjector(index=index), frames_to_send=[frame],
                                 expected_down_frames=None)
        return [(type(f), getattr(f, "text", None),
                 f.context.get_messages() if isinstance(f, LLMContextFrame) else None)
                for f in down]

    real = encoder.encode
    loop_thread = threading.current_thread()

    def encode(texts: list[str]) -> Any:
        if threading.current_thread() is not loop_thread:
            raise RuntimeError("no encoder in this thread")
        return real(texts)

    expected = await sent(fresh_index())
    monkeypatch.setattr(encoder, "encode", encode)
    assert await sent(fresh_index()) == expected
    assert expected[0][0] in (LLMContextFrame, LLMFullResponseStartFrame)


class RecordsThenLeaves(FrameProcessor):
    """After a reply ends: the aggregator records it (`reply_recorded`) and, if `leaves`,
    the visitor walks away at once (`forget`), as the attendant ends a visit."""

    def __init__(self, injector: KnowledgeInjector, leaves: bool) -> None:
        super().__init__()
        self.injector, self.leaves = injector, leaves

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseEndFrame):
            self.injector.reply_recorded()
            if self.leaves:
                self.injector.forget()
        await self.push_frame(frame, direction)


@pytest.mark.parametrize("leaves", [False, True])
async def test_a_read_ahead_of_a_visit_forgotten_meanwhile_is_not_read(
        fresh_index: Callable[[], KnowledgeIndex], leaves: bool) -> None:
    """The history's notes are written in a worker thread; a visit forgotten before they
    are ready is not sent to the LLM server (nothing of it goes on after it)."""
    read: list[LLMContext] = []

    async def prefill(context: LLMContext) -> None:
        read.append(context)

    context = LLMContext([{"role": "user", "content": OFF_TOPIC}])
    injector = KnowledgeInjector(index=fresh_index(), prefill=prefill, context=context)
    await run_test(Pipeline([injector, RecordsThenLeaves(injector, leaves)]),
                   frames_to_send=[LLMContextFrame(context=context), SleepFrame(0.5)],
                   expected_down_frames=None)
    assert injector.prefills == 1
    assert len(read) == (0 if leaves else 1)
    assert injector.prefilled_messages == ([] if leaves else list(context.get_messages()))
