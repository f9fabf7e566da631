"""Fixtures for the pipelines tests: real bundled models, a real embedded LLM, real servers.

End-to-end tests start uvicorn on 127.0.0.1 with a free port in a background
thread (its own event loop) and talk to it over a real websocket with the SDK.
Speech is made with the bundled piper voice and judged by word error rate with
the bundled whisper.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import soxr

from benchkit.answers.word_error import edit_distance

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# --------------------------------------------------------------------------- text helpers


_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}


def normalize_words(text: str) -> list[str]:
    """Lowercase words without punctuation; small numbers as digits (whisper writes either)."""
    text = text.lower().replace("a.m.", "am").replace("p.m.", "pm").replace("&", " and ")
    text = re.sub(r"\b(where|what|it|that|there|here|who|how)'s\b", r"\1 is", text)
    # times as the LLM writes them ("9:01am") and as whisper hears them ("901 AM")
    text = re.sub(r"(\d)[:.](\d)", r"\1\2", text)  # also "9.00 am"
    text = re.sub(r"(?<=\d)[- ](?=\d)", "", text)  # whisper's "9-0-0 am" or "9 0 0 am" for "9:00"
    text = re.sub(r"(\d)(am|pm)\b", r"\1 \2", text)
    words = re.findall(r"[a-z0-9']+", text)
    return [_NUMBER_WORDS.get(word, word) for word in words]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words / reference length (1.0 if the reference is empty)."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    return edit_distance(ref, hyp) / len(ref)


@pytest.fixture(scope="session")
def wer() -> Callable[[str, str], float]:
    """The word error rate function."""
    return word_error_rate


# --------------------------------------------------------------------------- models


@pytest.fixture(scope="session")
def speech_models() -> Any:
    """Bundled whisper tiny.en + piper joe, loaded once and warmed up."""
    from pipelines.speech.models import SpeechModels

    models = SpeechModels.bundled()
    models.warm_up()
    return models


@pytest.fixture(scope="session")
def say(speech_models: Any) -> Callable[[str], bytes]:
    """Speak text with the bundled piper voice: 16 kHz PCM s16le with 0.3 s of lead-in.

    Without piper's sampled noise (tests/speech.py), so the same text is the same
    audio in every run and whisper hears the same words in it."""
    from tests.speech import piper_pcm16k

    def speak(text: str) -> bytes:
        return piper_pcm16k(speech_models.piper, text)

    return speak


@pytest.fixture(scope="session")
def transcribe(speech_models: Any) -> Callable[[bytes, int], str]:
    """Transcribe PCM s16le at any rate with the bundled whisper, as a measuring
    instrument: whisper's full 30 s window (the product fits the window to the
    utterance; on a reply with seconds of silence around it that made tiny.en add
    "I'm sorry, I'm sorry." once in a while).

    Greedy at temperature 0 only, as the product decodes: whisper's default
    temperature fallback re-decodes a doubtful segment by sampling from an
    unseeded generator, and then the same audio reads differently on every call
    (an acted laugh gave 6 different transcripts in 6 calls, the greedy pass one).
    An instrument has to give the same reading for the same audio.

    Each 30 s window decoded on its own (`condition_on_previous_text=False`, as the
    product decodes): conditioned on the window before, tiny.en looped on a spoken
    list of times ("Friday 9 Friday 9 ...", a word error rate of 8.4 in a fresh-clone
    run) or dropped its tail (a 12 s reply with 3 s of silence around it: 16 of 26
    words heard)."""
    from faster_whisper import WhisperModel

    from agent.bundled_models import whisper_model_dir

    model = WhisperModel(str(whisper_model_dir()), device="cpu",
                         compute_type=speech_models.asr.compute_type, cpu_threads=2)

    def run(pcm: bytes, rate: int) -> str:
        audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        if rate != 16000:
            audio = soxr.resample(audio, rate, 16000)
        segments, _ = model.transcribe(audio, beam_size=1, language="en", temperature=0.0,
                                       condition_on_previous_text=False)
        return " ".join(segment.text.strip() for segment in segments)

    return run


@pytest.fixture(scope="session")
def llm_endpoint() -> Iterator[Any]:
    """The embedded llama.cpp server with the bundled SmolLM2 (the fast model)."""
    from agent.bundled_models import smollm2_gguf
    from agent.llm_server import EmbeddedLLMServer

    # one thread: llama.cpp's threads spin at barriers, and on a shared 2-core machine two
    # of them were measured ~20x slower than one (see docs/LATENCY.md)
    server = EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="smollm2", n_threads=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def runtime(speech_models: Any, llm_endpoint: Any) -> Any:
    """Shared models + the embedded LLM + the default kiosk persona, LLM cache warmed."""
    import asyncio

    from agent.persona import build_system_prompt
    from agent.settings import PersonaSettings
    from pipelines.server.app import VoiceRuntime
    from pipelines.voice_pipeline import LLMParams

    runtime = VoiceRuntime(
        models=speech_models,
        llm=LLMParams(base_url=llm_endpoint.base_url, model="smollm2", max_tokens=60,
                      timeout_s=60.0),  # the shared CPU is often saturated
        system_prompt=build_system_prompt(PersonaSettings()),
    )
    asyncio.run(runtime.warm_up_llm())
    return runtime


@pytest.fixture(scope="session")
def avatar_assets() -> Iterator[Any]:
    """The live avatar's shared assets: default portrait, shipped student, measured
    costs, and two warm face worker processes (the server's default: the e2e tests
    run the product's path, each session's face in a worker of its own)."""
    from avatar.live import AvatarAssets

    assets = AvatarAssets.load(face_workers=2)
    yield assets
    assets.close()


@pytest.fixture(scope="session")
def video_runtime(runtime: Any, avatar_assets: Any) -> Any:
    """`runtime` plus the avatar assets: sessions whose hello asks for video get a face."""
    import dataclasses

    return dataclasses.replace(runtime, avatar=avatar_assets)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    """A port the OS says is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    """A uvicorn server in a background thread."""

    url: str
    http: str
    app: Any
    server: Any
    thread: threading.Thread

    @property
    def registry(self) -> Any:
        """The app's live sessions."""
        return self.app.state.registry

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=15)


ServerFactory = Callable[..., RunningServer]

#: How long a test server's start may wait for the LLM to read its system prompt (a cold
#: ~900-token prompt took 11 s on one quiet core, more beside a face and Chromium)
PROMPT_WARM_SECS = 90.0


def warm_system_prompt(runtime: Any) -> None:
    """Have the runtime's LLM read its system prompt now, as `serve` does at start-up.

    The suite's servers share one embedded llama.cpp slot but not one prompt (with and
    without a knowledge index, another operator's file): the slot keeps only the last
    prompt read. Without this, a test's first LLM turn could pay for reading its whole
    prompt again (11 s on a quiet core, measured) inside a window the test bounds, e.g. a
    visitor's stay. Best effort, bounded by the runtime's own LLM timeout: an endpoint a
    test made dead or hanging is left as it is."""
    import asyncio

    from openai import AsyncOpenAI

    from agent.llm_client import warm_up_notes
    from pipelines.voice_pipeline import spoken_system_prompt

    llm = getattr(runtime, "llm", None)
    if llm is None or not getattr(llm, "base_url", None):
        return

    # no longer than a turn of this runtime may wait (a test's hanging endpoint: 2 s)
    timeout = min(PROMPT_WARM_SECS, float(getattr(llm, "timeout_s", PROMPT_WARM_SECS)))

    async def read_prompt() -> None:
        client = AsyncOpenAI(base_url=llm.base_url, api_key=llm.api_key, timeout=timeout, max_retries=0)
        try:
            await warm_up_notes(client, model=llm.model, notes=[""],
                                system_prompt=spoken_system_prompt(runtime.system_prompt, runtime.knowledge))
        finally:
            await client.close()

    def run() -> None:
        try:
            asyncio.run(read_prompt())
        except Exception as error:  # a test's own dead or hanging endpoint
            print(f"test server: LLM prompt not warmed ({type(error).__name__}: {error})")

    thread = threading.Thread(target=run, name="warm-system-prompt", daemon=True)
    thread.start()  # a thread: some tests start servers from inside a running event loop
    thread.join(timeout + 5)


@pytest.fixture(scope="session")
def start_server() -> Iterator[ServerFactory]:
    """Factory: start a server for a runtime and config; all are stopped at the end."""

    from pipelines.door_tls import TLSFiles
    from pipelines.server.app import ServerConfig, create_app, make_server

    started: list[RunningServer] = []

    def start(runtime: Any, config: ServerConfig | None = None, port: int | None = None,
              tls: TLSFiles | None = None) -> RunningServer:
        config = config or ServerConfig()
        warm_system_prompt(runtime)
        port = port or free_port()
        app = create_app(runtime, config)
        server = make_server(app, "127.0.0.1", port, config.limits, tls)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"test server on port {port} did not start")
            time.sleep(0.02)
        ws, http = ("wss", "https") if tls is not None else ("ws", "http")
        handle = RunningServer(f"{ws}://127.0.0.1:{port}/ws", f"{http}://127.0.0.1:{port}", app,
                               server, thread)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


@pytest.fixture(scope="session")
def voice_server(runtime: Any, start_server: ServerFactory) -> RunningServer:
    """The default server (no token, 2 sessions) on the real models and LLM."""
    return start_server(runtime)


#: A question the shipped store's knowledge routing answers with one fact said as three
#: sentences, without the LLM (~7 s of speech, the same every run): what a test speaks
#: over. The LLM's own answers are no such reply: told to be brief, the small model
#: answered a long multi-part question with one short sentence, over before a sound
#: 0.6 s into it had been heard out.
LONG_REPLY_QUESTION = "Can you tell me where the departments are in your store?"


@pytest.fixture(scope="session")
def store_index() -> Any:
    """The knowledge index the product builds over the shipped store's file (words and
    meaning, the answer rules on): the product's path to the facts."""
    from agent.answers.index import KnowledgeIndex
    from agent.sentence_embedding import SentenceEncoder
    from agent.settings import PersonaSettings

    return KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=SentenceEncoder())


@pytest.fixture(scope="session")
def answering_server(runtime: Any, store_index: Any, start_server: ServerFactory) -> RunningServer:
    """The default server with the knowledge routing, as `make run` serves: facts said
    from the file where a fact answers the question, the LLM for the rest."""
    import dataclasses

    return start_server(dataclasses.replace(runtime, knowledge=store_index))


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An OpenAI base URL whose server accepts connections and never answers (a hung LLM)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
                held.append(connection)
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(timeout=2)
    for connection in held:
        connection.close()
    listener.close()
