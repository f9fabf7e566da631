"""The pipecat serializer for protocol v1 and the first-clause TTS aggregator (no models)."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from pipecat.frames.frames import (
    InputAudioRawFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
)

from pipelines.speech.first_clause import FirstClauseAggregator
from pipelines.wire.frames import EncodedVideoFrame
from pipelines.wire.protocol_session import ProtocolSession
from pipelines.wire.serializer import ProtocolV1Serializer
from sdk.errors import ProtocolError
from sdk.protocol import MediaKind, decode_media, encode_media


def serializer_for(rate: int) -> tuple[ProtocolV1Serializer, list[ProtocolError]]:
    session = ProtocolSession()
    session.receive(json.dumps({"type": "hello", "protocol": 1, "audio_in": {"sample_rate": rate}}))
    seen: list[ProtocolError] = []
    return ProtocolV1Serializer(session, on_violation=seen.append), seen


def tone(seconds: float, rate: int, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16).tobytes()


async def test_client_audio_becomes_input_frames_at_pipeline_rate() -> None:
    serializer, _ = serializer_for(16000)
    frame = await serializer.deserialize(encode_media(MediaKind.AUDIO, tone(0.02, 16000)))
    assert isinstance(frame, InputAudioRawFrame)
    assert frame.sample_rate == 16000 and len(frame.audio) == 640


async def test_48k_client_audio_is_resampled_to_16k() -> None:
    serializer, _ = serializer_for(48000)
    total = 0
    for _ in range(10):  # the stream resampler may hold back a few samples at first
        frame = await serializer.deserialize(encode_media(MediaKind.AUDIO, tone(0.1, 48000)))
        if frame is not None:
            assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 16000
            total += len(frame.audio) // 2
    assert abs(total - 16000) < 800  # 1 s in, ~1 s out (the resampler holds back < 50 ms)


async def test_bad_input_becomes_an_error_event_not_an_exception() -> None:
    serializer, seen = serializer_for(16000)
    frame = await serializer.deserialize("{not json")
    assert isinstance(frame, OutputTransportMessageUrgentFrame)
    assert frame.message["type"] == "error" and frame.message["code"] == "malformed_message"
    assert frame.message["fatal"] is False and len(seen) == 1
    # and the error event is what goes on the wire
    wire = await serializer.serialize(frame)
    assert isinstance(wire, str) and json.loads(wire)["code"] == "malformed_message"


async def test_ping_is_answered_with_pong() -> None:
    serializer, _ = serializer_for(16000)
    frame = await serializer.deserialize('{"type": "ping", "id": "abc"}')
    assert isinstance(frame, OutputTransportMessageUrgentFrame)
    assert frame.message == {"type": "pong", "id": "abc"}


async def test_output_audio_carries_a_sample_clock() -> None:
    serializer, _ = serializer_for(16000)
    pcm = tone(0.5, 22050)
    first = await serializer.serialize(OutputAudioRawFrame(pcm, sample_rate=22050, num_channels=1))
    second = await serializer.serialize(OutputAudioRawFrame(pcm, sample_rate=22050, num_channels=1))
    assert isinstance(first, bytes) and isinstance(second, bytes)
    a, b = decode_media(first), decode_media(second)
    assert a.kind is MediaKind.AUDIO and a.payload == pcm
    assert (a.pts_us, b.pts_us) == (0, 500_000)
    assert serializer.samples_sent == 2 * len(pcm) // 2


async def test_one_video_message_per_audio_message() -> None:
    # a second image before the next audio chunk (its own chunk never went out)
    # would give two video messages one pts: the first stands, the second is counted
    serializer, _ = serializer_for(16000)
    chunk = OutputAudioRawFrame(tone(0.04, 22050), sample_rate=22050, num_channels=1)

    def image(jpeg: bytes) -> EncodedVideoFrame:
        return EncodedVideoFrame(message=None, jpeg=jpeg)

    wire = [await serializer.serialize(frame)
            for frame in (chunk, image(b"a"), image(b"b"), chunk, image(b"c"), chunk)]
    sent = [decode_media(m) for m in wire if isinstance(m, bytes)]
    video = [(m.payload, m.pts_us) for m in sent if m.kind is MediaKind.VIDEO]
    assert video == [(b"a", 40_000), (b"c", 80_000)]
    assert (serializer.video_sent, serializer.video_dropped) == (2, 1)


async def test_only_protocol_events_reach_the_wire() -> None:
    serializer, _ = serializer_for(16000)
    rtvi = OutputTransportMessageUrgentFrame(message={"label": "rtvi-ai", "type": "bot-ready"})
    assert await serializer.serialize(rtvi) is None
    event = OutputTransportMessageUrgentFrame(message={"type": "bot-output", "text": "Hi."})
    assert json.loads(await serializer.serialize(event) or "{}") == event.message


@pytest.fixture(scope="module")
def llm_tokens() -> Callable[[str], list[str]]:
    """Text cut into the pieces the embedded LLM streams: its own tokenizer's tokens
    (the real Qwen vocabulary, loaded without weights)."""
    from llama_cpp import Llama

    from agent.bundled_models import embedded_gguf

    vocab = Llama(model_path=str(embedded_gguf("qwen2.5-0.5b")), vocab_only=True, verbose=False)

    def pieces(text: str) -> list[str]:
        ids = vocab.tokenize(text.encode(), add_bos=False)
        return [vocab.detokenize([i]).decode("utf-8") for i in ids]

    return pieces


async def collect(aggregator: FirstClauseAggregator, tokens: list[str]) -> list[str]:
    out = []
    for token in tokens:
        async for aggregation in aggregator.aggregate(token):
            out.append(aggregation.text)
    tail = await aggregator.flush()
    if tail is not None and tail.text:
        out.append(tail.text)
    return out


@pytest.mark.parametrize(
    "reply, chunks",
    [
        (
            "We open at nine on weekdays, and at ten on Sunday. Parking is free.",
            ["We open at nine on weekdays,", "and at ten on Sunday.", "Parking is free."],
        ),
        # a colon inside a time is not a clause end; short lead-ins are not split off
        ("We open at 9:00 AM on Saturday.", ["We open at 9:00 AM on Saturday."]),
        ("Yes, we do. Ask at the desk.", ["Yes, we do.", "Ask at the desk."]),
        # a long first sentence without commas is cut before a joining word
        (
            "Free parking is available for two hours in the garage behind the store.",
            ["Free parking is available for two hours", "in the garage behind the store."],
        ),
    ],
)
async def test_first_clause_is_released_early_only_once(reply: str, chunks: list[str]) -> None:
    aggregator = FirstClauseAggregator(min_words=4, phrase_words=6, growth=0)
    tokens = [reply[i : i + 3] for i in range(0, len(reply), 3)]  # LLM-like small tokens
    assert await collect(aggregator, tokens) == chunks
    # the next reply gets its first clause split again
    assert (await collect(aggregator, tokens))[0] == chunks[0]


@pytest.mark.parametrize(
    "reply, first",
    [
        # the defaults: a short first phrase, cut before a joining word after 3 words
        ("The store opens on Saturday at 9 a.m.", "The store opens"),
        ("You can park your car in the garage behind the store.", "You can park"),
        ("You have to return something within 30 days.", "You have to return something"),
        ("Yes, we are open on Christmas Day.", "Yes, we are open"),
        # nothing to cut at: the whole (short) sentence
        ("We do not accept personal checks.", "We do not accept personal checks."),
    ],
)
async def test_the_default_first_chunk_is_a_short_phrase(
        reply: str, first: str, llm_tokens: Callable[[str], list[str]]) -> None:
    tokens = llm_tokens(reply)
    chunks = await collect(FirstClauseAggregator(), tokens)
    assert chunks[0] == first
    assert " ".join(chunks) == reply  # nothing lost or doubled at the cut


@pytest.mark.parametrize(
    "reply, first",
    [
        # a store fact said without the LLM: one text frame, cut as if streamed
        ("Delivery: free delivery for orders over 300 dollars within 20 miles; otherwise "
         "delivery costs 49 dollars.", "Delivery: free delivery"),
        ("Payment: we accept cash, Visa, Mastercard, American Express, Apple Pay.",
         "Payment: we accept cash,"),
        # a short sentence stays whole
        ("Sorry, I don't know that. A member of staff can tell you.", "Sorry, I don't know that."),
    ],
)
async def test_a_reply_that_comes_whole_has_its_first_phrase_cut_too(reply: str, first: str) -> None:
    chunks = await collect(FirstClauseAggregator(), [reply])
    assert chunks[0] == first, chunks
    assert " ".join(chunks) == reply  # nothing lost or doubled at the cuts


async def test_later_chunks_grow_so_each_is_ready_before_the_one_before_ends() -> None:
    """3 words, then a clause or a phrase at least twice as long, then whole sentences;
    never a cut between two joining words ("next to | the cafe")."""
    reply = ("You have to return the item within 30 days with the receipt, for a full refund "
             "to the original payment method. The restrooms are next to the cafe.")
    tokens = [reply[i : i + 3] for i in range(0, len(reply), 3)]
    chunks = await collect(FirstClauseAggregator(), tokens)
    assert chunks == ["You have to return", "the item within 30 days with the receipt,",
                      "for a full refund to the original payment method.",
                      "The restrooms are next to the cafe."], chunks


async def test_a_joining_word_that_came_as_a_whole_token_ends_the_first_phrase_at_once(
        llm_tokens: Callable[[str], list[str]]) -> None:
    """Tokens as the LLM writes them: once " on" has come as a token of its own, the first
    phrase goes out without waiting for the next token (its word cannot grow: the
    tokenizer writes "once" or "only" as tokens of their own). A capitalised or glued
    piece ("To" of "Toilets", which the tokenizer does split so) is never taken for one."""
    tokens = llm_tokens("The store opens on Sunday at 10 a.m.")
    assert tokens[:4] == ["The", " store", " opens", " on"]
    aggregator = FirstClauseAggregator()
    released: list[str] = []
    for token in tokens[:4]:
        released += [a.text async for a in aggregator.aggregate(token)]
    assert released == ["The store opens"]

    tokens = llm_tokens("You can find Toilets near the entrance.")
    assert " To" in tokens  # the tokenizer does split this word after a joining word
    chunks = await collect(FirstClauseAggregator(), tokens)
    assert chunks[0] == "You can find Toilets", chunks
    assert " ".join(chunks) == "You can find Toilets near the entrance."
