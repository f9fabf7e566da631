"""The one voice-pipeline builder: transport -> VAD -> whisper -> context -> LLM -> piper.

    transport.input()
      -> InputSilenceFiller                missing client audio becomes silence (ends turns)
      -> VADProcessor (silero)             user speech start/stop, feeds barge-in
      -> BundledWhisperSTTService          one transcript per utterance (shared model)
      -> user context aggregator           smart-turn v3 decides the end of the turn
                                           (+ the LLM reads the words: semantic_turn)
      -> ContextWindow                     a bounded history: a long session fits the LLM
      -> KnowledgeInjector (optional)      off-topic: a fixed reply, no LLM; store facts if set
      -> LocalOpenAILLMService             streamed reply, bounded timeout
      -> LLMTextProcessor                  first clause, then sentences (FirstClauseAggregator)
      -> FactCheckedText                   a chunk with a fact the prompt lacks: "I don't know"
      -> SharedPiperTTSService             first clause / sentence at a time
      -> ReplyStartMargin                  a reply starts once the visitor did not go on
      -> *output_processors                e.g. the face service (owns the output audio)
      -> EventSender                       protocol events, one hop before the wire
      -> transport.output()                paces audio at real time, drops it on barge-in
      -> assistant context aggregator      records only the text that was sent as audio

Barge-in (pipelines/turns/barge_in.py): a VAD start while the bot talks pauses the
reply (sooner: silero's score of one window, unless the VAD does not confirm it:
pipelines/turns/speech_onset.py; the face service, or ReplyPacer, holds it); words
in the transcript then broadcast an InterruptionFrame (the output drops queued
audio and the TTS/LLM stop), while a backchannel, cough or laugh lets the reply
play on. While the bot is silent a VAD start starts the turn at once.
pipecat pushes a sentence's TTSTextFrame behind its audio, so the assistant
aggregator (after the transport) only appends sentences whose audio was
actually sent, and the context keeps only what was spoken.

In a video session the face service (pipelines/face/video_service.py) and the video
wire adapter come in as `output_processors`: the service swallows TTSAudioRawFrames
and re-emits audio + video frames on one clock, and holds the text frames until
their audio has been emitted, so the same rule holds with a face: the context
keeps only what was played.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMAssistantAggregator,
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.aggregators.llm_text_processor import LLMTextProcessor
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.transports.base_transport import BaseTransport
from pipecat.turns.user_start.base_user_turn_start_strategy import BaseUserTurnStartStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from agent.answers.guard import DONT_KNOW_REPLY, FactGuard
from agent.answers.heard import TurnPlans, choose_heard, second_opinion, wants_second_opinion
from agent.answers.index import KnowledgeIndex
from agent.answers.reading import spoken_answer
from agent.answers.routing import with_notes
from agent.asr_vocabulary import recognizer_prompt
from agent.persona import without_knowledge
from agent.turn_end_text import TurnEndReader
from pipelines.settings import section_params
from pipelines.speech.fact_check import FactCheckedText
from pipelines.speech.first_clause import FirstClauseAggregator
from pipelines.speech.llm import LocalOpenAILLMService
from pipelines.speech.models import SpeechModels
from pipelines.speech.speculative_stt import SpeculativeWhisperSTTService
from pipelines.speech.stt import BundledWhisperSTTService, SecondOpinion
from pipelines.speech.tts import SharedPiperTTSService
from pipelines.turns.barge_in import BackchannelTolerantStartStrategy
from pipelines.turns.context_window import ContextWindow
from pipelines.turns.input_silence import InputSilenceFiller
from pipelines.turns.knowledge_injector import KnowledgeInjector, user_texts
from pipelines.turns.reply_margin import ReplyStartMargin
from pipelines.turns.reply_pacer import ReplyPacer
from pipelines.turns.semantic_turn import SemanticHolds, TurnReadings
from pipelines.turns.shared_models import SharedSileroVAD, SharedSmartTurnAnalyzer
from pipelines.turns.speculative_turn import SpeculativeTurnStopStrategy
from pipelines.turns.speech_onset import OnsetVADProcessor, WindowTapSileroVAD
from pipelines.turns.turn_hold import HoldIncompleteTurnStopStrategy
from pipelines.turns.turn_join import SplitTurnJoiner
from pipelines.wire.event_observer import EventSender, ProtocolEventObserver

if TYPE_CHECKING:
    from agent.llm_endpoints import EndpointResolver
    from agent.llm_server import LLMEndpoint
    from pipelines.settings import Settings
    from pipelines.settings.sections import TurnSettings

#: Appended to the persona: a spoken reply must be short, and plain text for TTS.
VOICE_STYLE = (
    "You are speaking out loud. Answer in one or two short sentences of plain text: "
    "no lists, no markdown, no emoji."
)
#: ... without a knowledge index (a voice assistant): every yes/no answered yes or no first
YES_NO_STYLE = " Begin the answer to a yes-or-no question with Yes or No."
#: ... with one (a kiosk): the reply speaks for the place; the yes/no hint comes with each
#: yes/no question instead (agent/answers/plan.py, `YES_NO_HINT`): in the system prompt
#: the small model opened wh-replies with "Yes" too (docs/ANSWERS.md)
KIOSK_STYLE = ' Speak for the place as "we"; the visitor is "you".'


def spoken_system_prompt(system_prompt: str, knowledge: KnowledgeIndex | None = None) -> str:
    """The persona with the spoken-style rules appended (also used to warm the LLM cache).
    With a knowledge index the facts come with each question (pipelines/turns/
    knowledge_injector.py), so the system prompt holds the persona alone: the LLM never
    reads the whole file, however long it is."""
    if knowledge is not None:
        return f"{without_knowledge(system_prompt).strip()}\n\n{VOICE_STYLE}{KIOSK_STYLE}"
    return f"{system_prompt.strip()}\n\n{VOICE_STYLE}{YES_NO_STYLE}"


@dataclass(frozen=True)
class TurnParams:
    """Turn-taking timings; each default is chosen for latency (see docs/LATENCY.md)."""

    #: silero: speech must last this long to count. 0.1 s (pipecat: 0.2): a false start
    #: only pauses the reply now, and a short "Wait." was missed at 0.2 (docs/LATENCY.md).
    vad_start_secs: float = 0.1
    #: while the bot speaks, a sound pauses the reply and only words interrupt it;
    #: a backchannel, cough or laugh lets it play on (pipelines/turns/barge_in.py).
    #: False: pipecat's barge-in, every VAD start interrupts.
    backchannel_barge_in: bool = True
    #: ...a paused reply plays on when the STT finds no words (a cough) or at the
    #: latest this long after the sound ends
    barge_in_resume_secs: float = 3.0
    #: ...and silero's score of single windows pauses the reply before the VAD commits;
    #: unconfirmed by a VAD start within this long, it plays on (pipelines/turns/speech_onset.py; 0: off)
    quick_pause_secs: float = 0.3
    #: ...and words whisper deems a failed decode (mean token log-probability below
    #: -1.0, as it makes of a laugh: "I'm so sorry.") interrupt too (False: they let
    #: the reply play on; pipelines/speech/transcript_confidence.py)
    unsure_words_interrupt: bool = False
    #: ...and this much silence ends an utterance (pipecat default 0.2 s).
    vad_stop_secs: float = 0.2
    vad_confidence: float = 0.7
    #: transcribe at the first pause (80 ms), before the VAD's stop: the transcript is
    #: ready sooner (pipelines/speech/speculative_stt.py); False: pipecat's segmented whisper
    speculative_asr: bool = True
    #: ...and start the reply on that transcript while the VAD and smart-turn still
    #: decide; it is held until the turn ends and dropped if the user goes on
    #: (pipelines/turns/speculative_turn.py; needs `speculative_asr`)
    eager_reply: bool = True
    #: a turn whose transcript ends on "is", "so", a comma... is held this much
    #: longer for the rest (pipelines/turns/turn_hold.py; 0: off)
    incomplete_hold_secs: float = 0.8
    #: ...and one that ends on a word no sentence ends on ("the", "and", "about")
    #: this much (at least `incomplete_hold_secs`)
    unfinished_hold_secs: float = 1.6
    #: ...and one whose transcript has no closing mark, or that whisper deems a failed
    #: decode (mean token log-probability below -1.0), this much (0: off)
    uncertain_hold_secs: float = 0.8
    #: read the end of the turn in the words too: the bundled LLM's probability that the
    #: visitor's message ends after them, read during the VAD's silence on the
    #: speculative transcript (pipelines/turns/semantic_turn.py; needs the embedded server's
    #: /extras/next-token route). "auto": on when the LLM is the embedded server
    #: (`LLMParams.embedded`), off with another endpoint, where the word tiers decide alone.
    semantic_turn: bool | Literal["auto"] = "auto"
    #: ...hold this much longer when the LLM expects more after a statement (Qwen 0.5B
    #: reads most complete statements so: 0.5 s, not 1.0, keeps nearly all of the gain on
    #: the held-out clips at half the cost to "Yes, please."; docs/LATENCY.md)...
    semantic_unsure_hold_secs: float = 0.5
    #: ...and this much when the words cannot end a sentence ("about the, um")
    semantic_unfinished_hold_secs: float = 2.0
    #: ...waiting at most this long after smart-turn's "complete" for a reading
    semantic_wait_secs: float = 0.6
    #: smart-turn fallback: if the model judges the turn unfinished, end it anyway
    #: after this much silence (pipecat's 3 s made some finished questions wait 3 s).
    smart_turn_stop_secs: float = 1.0
    #: split the first clause of a reply off for TTS once it has this many words (0: off)...
    first_clause_min_words: int = 3
    #: ...or, with no , ; : in sight, before a joining word after this many words (0: off).
    #: 3 (was 6): Qwen 0.5B writes ~13 tokens/s on one thread, so each word the first
    #: chunk waits for costs ~75 ms before piper can start (docs/LATENCY.md).
    first_phrase_words: int = 3
    #: a user turn starting this soon after the previous one ended continues it: both
    #: become one user message (pipelines/turns/turn_join.py; 0: off)
    join_split_turn_secs: float = 1.5
    #: a reply starts only once this much of the visitor's audio past the turn end was
    #: heard, so a visitor who goes straight on pauses it before a sound
    #: (pipelines/turns/reply_margin.py; 0: off)
    reply_margin_secs: float = 0.15
    #: LLM history per session: past this many messages it is cut back to the last
    #: `context_keep_messages` (in steps, so llama.cpp's prompt cache keeps working)
    context_messages: int = 24
    context_keep_messages: int = 8

    @classmethod
    def from_section(cls, turns: TurnSettings) -> TurnParams:
        """From the settings' `[turns]` section (its fields are these)."""
        return section_params(cls, turns)


@dataclass(frozen=True)
class LLMParams:
    """Where and how to ask the LLM."""

    base_url: str
    model: str
    api_key: str = "sk-no-key-required"
    max_tokens: int = 96
    temperature: float = 0.2
    timeout_s: float = 15.0
    #: read replies the LLM did not write ahead of the next turn (`KnowledgeInjector`
    #: prefill): free on our own llama.cpp server, paid tokens on a cloud API
    prefill_history: bool = False
    #: the endpoint is this product's own llama.cpp server (agent/llama_cpp_server.py):
    #: its /extras/next-token route reads the end of a turn (`TurnParams.semantic_turn`)
    embedded: bool = False
    #: where each turn goes (agent/llm_endpoints.py): a fleet's LLM pool, shared by
    #: the machine's sessions; None: `base_url`, fixed
    endpoints: EndpointResolver | None = field(default=None, compare=False)
    #: check each chunk of a reply before it is spoken: one stating a number, time,
    #: price, name or place the system prompt does not hold is replaced by the
    #: "I don't know" line (pipelines/speech/fact_check.py)
    fact_guard: bool = True
    #: the one-fact notes the start-up warm-up has the LLM read (`llm.warm_notes`)
    warm_notes: int = 24

    @classmethod
    def from_settings(cls, settings: Settings, endpoint: LLMEndpoint) -> LLMParams:
        """From the settings tree and the resolved endpoint (the one place fields are mapped)."""
        llm = settings.llm
        return cls(base_url=endpoint.base_url, model=endpoint.model, api_key=endpoint.api_key,
                   max_tokens=llm.max_tokens, temperature=llm.temperature,
                   timeout_s=llm.request_timeout_s,
                   prefill_history=endpoint.server is not None,
                   embedded=endpoint.server is not None, warm_notes=llm.warm_notes)


@dataclass
class VoiceSession:
    """What `build_voice_pipeline` made: the task to run and the parts worth reaching."""

    task: PipelineWorker
    context: LLMContext
    events: EventSender
    observer: ProtocolEventObserver
    processors: dict[str, FrameProcessor] = field(default_factory=dict)
    #: the backchannel-tolerant barge-in strategy (its counters), if on
    barge_in: BackchannelTolerantStartStrategy | None = None
    #: the end-of-turn strategy (its hold and speculation counters)
    turn_stop: HoldIncompleteTurnStopStrategy | None = None

    async def forget(self) -> None:
        """Forget the conversation (a kiosk's visitor left): the LLM context, the words
        of the reply in flight that the assistant aggregator holds (the interruption
        that stops the reply would add them to the emptied context: the next visitor
        read the last one's half-said answer) and what the processors keep of it
        (their `forget()`). The next request carries the persona alone."""
        assistant = self.processors.get("assistant")
        if isinstance(assistant, LLMAssistantAggregator):
            await assistant.reset()
        self.context.set_messages([])
        for processor in self.processors.values():
            forget = getattr(processor, "forget", None)
            if callable(forget):
                forget()


def reply_history(spoken_prompt: str, context: LLMContext,
                  knowledge: KnowledgeIndex | None) -> list[Mapping[str, Any]]:
    """What a reply sends the LLM before the visitor's new words: the persona and the
    history, with the notes the knowledge routing writes in front of the visitor's
    questions (pipelines/turns/knowledge_injector.py).

    The turn-end reading (pipelines/turns/semantic_turn.py) sends this, so it shares the
    last reply's prefix in llama.cpp's cache and reads only the new words; without the
    note it read the whole history again while the reply queued behind it
    (docs/LATENCY.md). It reads it in two steps: `said_history` on the event loop, then
    `noted_history` in a worker thread (a note may need a sentence encoded)."""
    history = said_history(spoken_prompt, context)
    return noted_history(knowledge, history) if knowledge is not None else history


def said_history(spoken_prompt: str, context: LLMContext) -> list[Mapping[str, Any]]:
    """The persona and a copy of the history as said, without notes."""
    messages = [dict(m) for m in context.get_messages() if isinstance(m, dict)]
    return [{"role": "system", "content": spoken_prompt}, *messages]


def noted_history(knowledge: KnowledgeIndex,
                  history: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`said_history`'s `history` with the notes in front of the visitor's questions
    (its first message, the persona, as it is)."""
    said = list(history[1:])
    return [history[0], *(with_notes(knowledge, said) or said)]


def reads_words(turn: TurnParams, llm: LLMParams) -> bool:
    """Whether the end of a turn is read in the words too (`TurnParams.semantic_turn`):
    "auto" only where the route exists, so another endpoint is never sent the visitor's
    words for a reading it cannot make."""
    return turn.semantic_turn is True or (turn.semantic_turn == "auto" and llm.embedded)


def build_voice_pipeline(
    *,
    transport: BaseTransport,
    models: SpeechModels,
    llm: LLMParams,
    system_prompt: str,
    turn: TurnParams | None = None,
    asr_language: str = "en",
    output_processors: Sequence[FrameProcessor] = (),
    send_metrics: bool = False,
    on_event: Callable[[dict], None] | None = None,
    audio_in_sample_rate: int = 16000,
    knowledge: KnowledgeIndex | None = None,
) -> VoiceSession:
    """Assemble one session's pipeline around `transport` (one per connection).

    Args:
        transport: carries audio in and out (the server passes pipecat's FastAPI
            websocket transport with the protocol v1 serializer).
        models: whisper + piper shared by every session of the process.
        llm: the OpenAI-compatible endpoint (embedded llama.cpp or external).
        system_prompt: persona + knowledge; `VOICE_STYLE` is appended.
        turn: VAD / end-of-turn timings.
        asr_language: whisper language code.
        output_processors: inserted between TTS and the transport (the face service).
        send_metrics: emit `metrics` events (ASR/LLM/TTS timings) to the client.
        on_event: hook called with every protocol event sent (for logs and tests).
        audio_in_sample_rate: rate of the pipeline's input audio (the serializer
            resamples client audio to it; silero and smart-turn need 16 kHz).
        knowledge: if given, a message no store fact is about gets a fixed reply
            without the LLM, and with `note_facts` the session's first store question
            goes to the LLM with its best fact in front of it, in a copy of the
            context, never in the history (pipelines/turns/knowledge_injector.py).
    """
    turn = turn or TurnParams()
    spoken_prompt = spoken_system_prompt(system_prompt, knowledge)
    vad_params = VADParams(confidence=turn.vad_confidence, start_secs=turn.vad_start_secs,
                           stop_secs=turn.vad_stop_secs)
    quick_pause = turn.backchannel_barge_in and turn.quick_pause_secs > 0
    vad = (OnsetVADProcessor(vad_analyzer=WindowTapSileroVAD(params=vad_params)) if quick_pause
           else VADProcessor(vad_analyzer=SharedSileroVAD(params=vad_params)))
    eager = turn.speculative_asr and turn.eager_reply
    # whisper reads the knowledge file's names and labels before each utterance (a file
    # with none to read: no prompt, the session still starts)
    asr_prompt = None
    if knowledge is not None:
        with contextlib.suppress(ValueError):
            asr_prompt = recognizer_prompt("\n".join(knowledge.facts))
    # of whisper's near hypotheses, one the file answers where its best gets no answer
    # (agent/answers/heard.py); a turn's hearing is planned once for both choices below
    plans = TurnPlans(knowledge) if knowledge is not None else None
    choose = (functools.partial(choose_heard, knowledge, plan=plans)
              if knowledge is not None else None)
    # a larger whisper hears again a question the file's rules do not answer as heard
    second = (SecondOpinion(whisper=models.second_whisper,
                            wanted=functools.partial(wants_second_opinion, knowledge, plan=plans),
                            taken=functools.partial(second_opinion, knowledge, plan=plans))
              if knowledge is not None and models.second_whisper is not None else None)
    stt = (SpeculativeWhisperSTTService(models=models, language=asr_language, prompt=asr_prompt,
                                        eager_end_of_turn=eager, choose=choose,
                                        second=second)
           if turn.speculative_asr else BundledWhisperSTTService(
               models=models, language=asr_language, prompt=asr_prompt, choose=choose,
               second=second))
    llm_service = LocalOpenAILLMService(
        timeout_s=llm.timeout_s,
        endpoints=llm.endpoints,
        api_key=llm.api_key,
        base_url=llm.base_url,
        settings=OpenAILLMService.Settings(
            model=llm.model,
            system_instruction=spoken_prompt,
            max_tokens=llm.max_tokens,
            temperature=llm.temperature,
        ),
    )
    tts = SharedPiperTTSService(models=models)
    # The reply's text is cut before TTS by pipecat's public LLMTextProcessor with our
    # first-clause aggregator; the TTS then speaks each AggregatedTextFrame as it comes.
    text_cutter = LLMTextProcessor(
        text_aggregator=FirstClauseAggregator(
            min_words=turn.first_clause_min_words,
            phrase_words=turn.first_phrase_words,
            language=asr_language,
        )
    )
    context = LLMContext()
    injector = (KnowledgeInjector(index=knowledge,
                                  prefill=llm_service.prefill if llm.prefill_history else None,
                                  context=context)
                if knowledge is not None else None)
    # a reply's values come from the facts its turn was answered from or the visitor's
    # own words in this visit (the injector keeps both); the persona lends only names
    checker = (FactCheckedText(
        guard=FactGuard.from_system_prompt(system_prompt, sentences=(
            [spoken_answer(fact) for fact in knowledge.facts] if knowledge is not None else None)),
        dont_know=knowledge.lines.dont_know if knowledge is not None else DONT_KNOW_REPLY,
        sources=(lambda: injector.sources) if injector is not None else None,
        # without the routing, the whole file's facts and the visitor's words in the context
        visitor=(lambda: user_texts(context)) if injector is None else None,
        persona=without_knowledge(system_prompt))
        if llm.fact_guard else None)

    # a turn cut at a pause is joined back into one user message
    joiner = (SplitTurnJoiner(context, join_secs=turn.join_split_turn_secs)
              if turn.join_split_turn_secs > 0 else None)
    smart_turn = SharedSmartTurnAnalyzer(
        params=SmartTurnParams(stop_secs=turn.smart_turn_stop_secs))
    barge_in = (BackchannelTolerantStartStrategy(resume_after_secs=turn.barge_in_resume_secs,
                                                 quick_pause_secs=turn.quick_pause_secs,
                                                 unsure_words_interrupt=turn.unsure_words_interrupt)
                if turn.backchannel_barge_in else None)

    def may_speculate() -> bool:
        # a turn that continues the previous one is answered once it is joined; words
        # over a reply first decide whether they interrupt it
        return not ((joiner is not None and joiner.continuing)
                    or (barge_in is not None and barge_in.reply_active))

    readings = (TurnReadings(reader=TurnEndReader(base_url=llm.base_url, api_key=llm.api_key,
                                                 follow=llm.endpoints),
                             messages=lambda: said_history(spoken_prompt, context),
                             with_notes=(functools.partial(noted_history, knowledge)
                                         if knowledge is not None else None))
                if reads_words(turn, llm) else None)
    holds: dict[str, Any] = dict(
        hold_secs=turn.incomplete_hold_secs, unfinished_hold_secs=turn.unfinished_hold_secs,
        uncertain_hold_secs=turn.uncertain_hold_secs, turn_analyzer=smart_turn,
        readings=readings,
        semantic=SemanticHolds(unsure_secs=turn.semantic_unsure_hold_secs,
                               unfinished_secs=turn.semantic_unfinished_hold_secs,
                               wait_secs=turn.semantic_wait_secs))
    stop_strategy = (SpeculativeTurnStopStrategy(may_speculate=may_speculate, **holds) if eager
                     else HoldIncompleteTurnStopStrategy(**holds))
    start_strategies: list[BaseUserTurnStartStrategy] | None = (
        [barge_in] if barge_in is not None else None)
    if turn.backchannel_barge_in and not any(
            getattr(p, "handles_reply_pause", False) for p in output_processors):
        output_processors = [ReplyPacer(), *output_processors]  # voice only: pace to pause
    margin = (ReplyStartMargin(margin_secs=turn.reply_margin_secs)
              if turn.reply_margin_secs > 0 else None)
    if margin is not None:
        output_processors = [margin, *output_processors]
    aggregators = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(
            user_turn_strategies=UserTurnStrategies(start=start_strategies,
                                                    stop=[stop_strategy]),
            # pipecat re-runs the LLM after a turn with no words if the turn "interrupted"
            # the bot, and every VAD start counts as one: a cough as the first turn sent
            # an empty context to the LLM. A sound without words is only counted (NO_WORDS).
            empty_user_turn=None,
        ),
    )
    if injector is not None:

        @aggregators.assistant().event_handler("on_assistant_turn_stopped")
        async def _read_ahead(_aggregator: Any, _message: Any) -> None:
            injector.reply_recorded()

    if barge_in is not None:
        barge_in.attach(aggregators.user())

        @aggregators.assistant().event_handler("on_assistant_turn_stopped")
        async def _reply_recorded(_aggregator: Any, _message: Any) -> None:
            barge_in.assistant_turn_stopped()
    events = EventSender(name="protocol-events")
    filler = InputSilenceFiller(sample_rate=audio_in_sample_rate)  # a quiet client = silence
    pipeline = Pipeline(
        [
            transport.input(),
            filler,
            vad,
            stt,
            aggregators.user(),
            *([joiner] if joiner is not None else []),
            ContextWindow(max_messages=turn.context_messages,
                          keep_messages=turn.context_keep_messages, context=context),
            *([injector] if injector is not None else []),
            llm_service,
            text_cutter,
            *([checker] if checker is not None else []),
            tts,
            *output_processors,
            events,
            transport.output(),
            aggregators.assistant(),
        ]
    )
    observer = ProtocolEventObserver(
        sender=events,
        output_transport=transport.output(),
        send_metrics=send_metrics,
        on_event=on_event,
    )
    task = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=audio_in_sample_rate,
            audio_out_sample_rate=models.tts_sample_rate,
            enable_metrics=True,
        ),
        enable_rtvi=False,
        idle_timeout_secs=None,
        observers=[observer],
    )
    return VoiceSession(
        task=task,
        context=context,
        events=events,
        observer=observer,
        processors={"vad": vad, "stt": stt, "llm": llm_service, "tts": tts, "silence": filler,
                    "assistant": aggregators.assistant(),
                    **({"knowledge": injector} if injector is not None else {}),
                    **({"fact_check": checker} if checker is not None else {}),
                    **({"joiner": joiner} if joiner is not None else {}),
                    **({"reply_margin": margin} if margin is not None else {})},
        turn_stop=stop_strategy,
        barge_in=barge_in,
    )
