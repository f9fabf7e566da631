"""Cutting the LLM's reply into TTS chunks: the first phrase early, then longer ones."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from pipecat.utils.text.base_text_aggregator import Aggregation, TextType
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator


class FirstClauseAggregator(SimpleTextAggregator):
    """Sentence aggregation that releases the first phrase of each reply early.

    The first audio of a reply waits for piper to synthesize the whole first TTS
    chunk, and piper's cost grows with the chunk's length. So the first chunk of
    a reply is cut short: at , ; : once it has `min_words` words, or, in a long
    sentence with no such mark, before a joining word ("in", "and", "for", ...)
    once it has `phrase_words` words. Later chunks are cut the same way, but each
    at least `growth` times as long as the one before: a chunk must be written
    (the LLM: ~10 words/s) and synthesized while the one before plays (~3
    words/s), so 3 words, then 6 or more, then 12 or more, then whole sentences.
    With whole sentences after a 3-word start, the avatar once went 1.8 s silent.

    A reply that comes whole, in one text frame (a store fact said without the LLM,
    the fixed reply), is read a word at a time, so its first phrase is cut like a
    streamed one's: a fact's whole first sentence made piper's first audio wait for
    all of it.
    """

    #: a word with the spaces before it, or the spaces that end the text
    _PIECES = re.compile(r"\s*\S+|\s+$")

    _CLAUSE_MARKS = (",", ";", ":")
    #: words that start a new phrase: the first chunk may end before them. Determiners
    #: count too ("You can pick up | your online order"): a verb phrase's object is a
    #: place where a speaker may pause, and without them 7-word chunks were common.
    _JOINING_WORDS = frozenset(
        "and but or so because in on at for with to from behind near next until "
        "which where when while if after before by within about over under into of through "
        "the a an your my our their this that these those".split()
    )

    def __init__(
        self, *, min_words: int = 3, phrase_words: int = 3, growth: float = 2.0,
        language: str | None = None
    ) -> None:
        """`min_words`: shortest first clause split at punctuation (avoids 'Well,');
        `phrase_words`: shortest first phrase split before a joining word (0 disables
        it); `growth`: a later chunk is cut only once it has this many times the words
        of the chunk before it (0: later chunks are whole sentences)."""
        super().__init__(aggregation_type=TextType.SENTENCE, language=language)
        self._min_words = min_words
        self._phrase_words = phrase_words
        self._growth = growth
        self._first_chunk_pending = True
        self._last_chunk_words = 0
        self._last_token = ""  # the text of the last aggregate() call: one LLM token

    def _cut(self, buffered: str, clause_words: int, phrase_words: int) -> int:
        """Where to end a chunk in `buffered` (0: not yet)."""
        # a mark only ends a clause once the space after it has arrived ("9:00" is not one)
        mark = max(buffered.rfind(m + " ") for m in self._CLAUSE_MARKS)
        if clause_words > 0 and mark > 0 and len(buffered[:mark].split()) >= clause_words:
            return mark + 1
        if phrase_words > 0:
            words = buffered.split(" ")
            # the last word may still be growing ("in" -> "inside"): only whole words count.
            # A joining word that came as one whole lowercase token is whole: the LLM's
            # tokenizer writes the longer words that start with one ("inside", "today",
            # "sofa") as tokens of their own, so waiting for the next token would cost a
            # token (~66 ms) for nothing (docs/LATENCY.md, "The first phrase one token sooner")
            whole_token = words[-1] in self._JOINING_WORDS and self._last_token == f" {words[-1]}"
            complete = words if whole_token else words[:-1]
            for i in range(phrase_words, len(complete)):
                word, before = (w.lower().strip("\"',;:") for w in complete[i - 1:i + 1][::-1])
                # not between two joining words ("next to | the cafe" is no boundary)
                if (word in self._JOINING_WORDS and before not in self._JOINING_WORDS
                        and len(" ".join(complete[:i]).split()) >= phrase_words):
                    return len(" ".join(words[:i]))
        return 0

    async def aggregate(self, text: str) -> AsyncIterator[Aggregation]:
        """Yield sentences, plus a phrase of a long one as soon as it is complete."""
        pieces = self._PIECES.findall(text) if len(text.split()) > 1 else [text]
        for piece in pieces:
            async for aggregation in self._aggregate_piece(piece):
                yield aggregation

    async def _aggregate_piece(self, text: str) -> AsyncIterator[Aggregation]:
        """`aggregate` for one token, or one word of a text that came whole."""
        self._last_token = text
        async for aggregation in super().aggregate(text):
            self._first_chunk_pending = False
            self._last_chunk_words = len(aggregation.text.split())
            yield aggregation
        if self._first_chunk_pending:
            if self._min_words <= 0:
                return
            cut = self._cut(self._text, self._min_words, self._phrase_words)
        elif self._growth > 0 and self._last_chunk_words > 0:
            # a clause ends at a mark one word longer than the chunk before; a phrase
            # needs `growth` times its words
            cut = self._cut(self._text, max(self._min_words, self._last_chunk_words + 1),
                            max(self._min_words, round(self._growth * self._last_chunk_words)))
        else:
            return
        if cut > 0:
            chunk = self._text[:cut].strip()
            self._text = self._text[cut:].lstrip(" ")
            self._first_chunk_pending = False
            self._last_chunk_words = len(chunk.split())
            yield Aggregation(text=chunk, type=TextType.SENTENCE)

    async def flush(self) -> Aggregation | None:
        """End of reply: the next reply starts with a first clause again."""
        self._first_chunk_pending = True
        self._last_chunk_words = 0
        return await super().flush()

    async def reset(self) -> None:
        """Cleared: the next reply starts with a first clause again."""
        self._first_chunk_pending = True
        self._last_chunk_words = 0
        await super().reset()

    async def handle_interruption(self) -> None:
        """Interrupted: the next reply starts with a first clause again."""
        self._first_chunk_pending = True
        self._last_chunk_words = 0
        await super().handle_interruption()
