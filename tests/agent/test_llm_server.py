"""The embedded llama.cpp server: really starts on the bundled SmolLM2, answers the
`openai` client, and leaves no process behind however it ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import openai
import pytest

from agent import (
    EmbeddedLLMServer,
    LLMServerError,
    LLMSettings,
    ReplyTiming,
    build_messages,
    check_llm_endpoint,
    complete_reply,
    make_client,
    resolve_llm_endpoint,
    smollm2_gguf,
    stream_reply,
    warm_up,
    warm_up_notes,
)

ROOT = Path(__file__).resolve().parents[2]


def _process_gone(pid: int, within_s: float = 10.0) -> bool:
    """True once `pid` no longer exists (zombies count as gone: they hold no memory)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status")
        try:
            state = next(
                line for line in status.read_text().splitlines() if line.startswith("State:")
            )
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            return True
        if "zombie" in state:
            return True
        time.sleep(0.05)
    return False


def test_server_answers_a_chat_completion_and_stops() -> None:
    server = EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="kiosk-llm", n_ctx=512)
    with server:
        pid = server.pid
        assert pid is not None and server.is_running
        assert server.base_url.startswith("http://127.0.0.1:") and server.base_url.endswith("/v1")
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        models = [model.id for model in client.models.list().data]
        assert models == ["kiosk-llm"]
        reply = client.chat.completions.create(
            model="kiosk-llm",
            messages=[{"role": "user", "content": "Say hello in one short sentence."}],
            max_tokens=16,
            temperature=0.0,
        )
        text = reply.choices[0].message.content or ""
        assert text.strip(), "the model produced no text"
        assert reply.usage is not None and 0 < reply.usage.completion_tokens <= 16
        # pipecat's own notes to the LLM come in OpenAI's "developer" role, which
        # llama-cpp-python refused with a 500: the server reads them as system notes
        noted = client.chat.completions.create(
            model="kiosk-llm",
            messages=[{"role": "user", "content": "Say hello."},
                      {"role": "developer", "content": "Answer in one short sentence."}],
            max_tokens=16,
            temperature=0.0,
        )
        assert (noted.choices[0].message.content or "").strip()
    assert not server.is_running
    assert _process_gone(pid)
    server.stop()  # idempotent
    server.stop()


def test_developer_messages_are_rewritten_as_system_messages_and_nothing_else() -> None:
    from agent.llama_cpp_server import developer_as_system

    body = json.dumps({"model": "m", "messages": [
        {"role": "system", "content": "a"}, {"role": "developer", "content": "b"},
        {"role": "user", "content": "c"}]}).encode()
    assert [m["role"] for m in json.loads(developer_as_system(body))["messages"]] == [
        "system", "system", "user"]
    plain = json.dumps({"messages": [{"role": "user", "content": "developer"}]}).encode()
    assert developer_as_system(plain) is plain  # untouched bytes
    assert developer_as_system(b"not json") == b"not json"
    assert developer_as_system(b'{"prompt": "x"}') == b'{"prompt": "x"}'


async def test_async_context_manager_streams_a_reply() -> None:
    async with EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="s", n_ctx=512) as server:
        pid = server.pid
        assert pid is not None
        await check_llm_endpoint(server.base_url, "unused")
        client = make_client(server.base_url, "unused")
        text = await complete_reply(
            client,
            model="s",
            messages=[{"role": "user", "content": "Name a color."}],
            max_tokens=8,
            temperature=0.0,
        )
        await client.close()
        assert text
    assert _process_gone(pid)


async def _first_token_s(client: openai.AsyncOpenAI, system: str, user: str) -> float:
    timing = ReplyTiming()
    async for _ in stream_reply(client, model="s", messages=build_messages(system, user),
                                max_tokens=2, temperature=0.0, timing=timing):
        pass
    assert timing.first_token_s is not None
    return timing.first_token_s


async def test_the_prompt_cache_restores_a_warmed_note_instead_of_reading_it() -> None:
    """A note warmed at start-up (system prompt + note, then other requests in between)
    is restored from the prompt-state cache: a question behind it answers as fast as one
    with no note, while a note the cache has not seen is read on the turn."""
    system = "You are a helpful kiosk. Answer in one short sentence."
    facts = ["garden center outside by entrance C", "cafe on the second floor",
             "lost and found at the service desk"]
    long_notes = [f"Store fact: {fact}. " + " ".join(f"Aisle {i} holds item {i}." for i in range(40))
                  + "\n" for fact in facts]
    server = EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="s", n_ctx=1024,
                               prompt_cache_mb=64)
    assert "--cache" in server.command() and "--cache" not in EmbeddedLLMServer(
        model_path=smollm2_gguf(), model_alias="s").command()
    async with server:
        client = make_client(server.base_url, "unused", timeout_s=120)
        # the first two notes are warmed; the live KV then holds the second, not the first
        await warm_up_notes(client, model="s", system_prompt=system, notes=long_notes[:2])
        await warm_up(client, model="s", system_prompt=system)
        plain = min([await _first_token_s(client, system, f"Where is it? ({i})") for i in range(2)])
        cached = await _first_token_s(client, system, long_notes[0] + "Where is it?")
        unseen = await _first_token_s(client, system, long_notes[2] + "Where is it?")
        await client.close()
    # ~330 note tokens: read, they cost SmolLM2 tenths of a second on one thread
    assert cached < plain + 0.5 * (unseen - plain), (plain, cached, unseen)


def test_a_broken_model_fails_fast_with_the_server_log(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + os.urandom(4096))  # right magic, garbage inside
    server = EmbeddedLLMServer(model_path=bogus, model_alias="x", startup_timeout_s=60)
    with pytest.raises(LLMServerError, match="exited with code") as caught:
        server.start()
    assert "log ends with" in str(caught.value)
    assert not server.is_running


def test_constructor_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="GGUF model not found"):
        EmbeddedLLMServer(model_path=tmp_path / "none.gguf", model_alias="x")
    with pytest.raises(ValueError, match="n_ctx"):
        EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="x", n_ctx=1)
    with pytest.raises(ValueError, match="prompt_cache_mb"):
        EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="x", prompt_cache_mb=-1)
    with pytest.raises(LLMServerError, match="not been started"):
        _ = EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="x").base_url


def test_resolve_uses_an_external_endpoint_without_starting_anything() -> None:
    llm = LLMSettings(base_url="http://10.1.2.3:8000/v1", model="m")
    endpoint = resolve_llm_endpoint(llm)
    assert endpoint == ("http://10.1.2.3:8000/v1", llm.api_key, "m", None)


def test_resolve_starts_the_embedded_server_from_settings() -> None:
    llm = LLMSettings(embedded_model="smollm2", context_tokens=512)
    base_url, api_key, model, server = resolve_llm_endpoint(llm)
    assert server is not None
    try:
        assert model == "smollm2" and base_url == server.base_url
        assert server.n_ctx == 512
        assert server.prompt_cache_mb == llm.prompt_cache_mb > 0
        client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
        assert [m.id for m in client.models.list().data] == ["smollm2"]
    finally:
        server.stop()


_CHILD_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    sys.path.insert(0, {root!r})
    from agent import EmbeddedLLMServer, smollm2_gguf
    server = EmbeddedLLMServer(model_path=smollm2_gguf(), model_alias="x", n_ctx=256).start()
    print(server.pid, flush=True)
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)  # no atexit: the kernel's PDEATHSIG must act
    # "exit": fall off the end without stop(); atexit must stop the server
    """
)


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_no_orphan_when_the_owner_exits_or_is_killed(how: str) -> None:
    owner = subprocess.run(
        [sys.executable, "-c", _CHILD_SCRIPT.format(root=str(ROOT)), how],
        capture_output=True,
        text=True,
        timeout=120,
    )
    expected = -signal.SIGKILL if how == "kill" else 0
    assert owner.returncode == expected, owner.stderr
    server_pid = int(owner.stdout.split()[0])
    assert _process_gone(server_pid), f"server {server_pid} outlived its owner ({how})"


def test_the_prompt_cache_holds_what_its_cap_says_logits_copies_counted() -> None:
    """Issue 47: llama-cpp-python's RAM cache counts only each state's KV bytes, so a
    cap of N MB kept several times N (each state also copies n_batch x vocab logits).
    The measured cache, on the real model, stays within its cap by every byte it keeps
    alive, where the stock one with the same cap overshoots it."""
    from types import SimpleNamespace

    import llama_cpp
    import numpy as np
    from llama_cpp.llama_cache import LlamaRAMCache

    from agent.llama_cpp_server import MeasuredRAMCache, measured_cache

    llama = llama_cpp.Llama(model_path=str(smollm2_gguf()), n_ctx=256, n_batch=32,
                            verbose=False, n_threads=1)
    try:
        llama.create_completion("Tell me one thing about rivers.", max_tokens=2)
        one = llama.save_state()
        per_state = MeasuredRAMCache.state_bytes(one)
        assert per_state > 2 * one.llama_state_size  # the logits copy dominates a state
        cap = int(2.5 * per_state)
        for cache in (LlamaRAMCache(capacity_bytes=cap), MeasuredRAMCache(capacity_bytes=cap)):
            llama.set_cache(cache)
            for word in ("apples", "boats", "clouds", "dogs", "engines", "forests"):
                llama.create_completion(f"Tell me one thing about {word}.", max_tokens=2)
            held = sum(MeasuredRAMCache.state_bytes(s) for s in cache.cache_state.values())
            if isinstance(cache, MeasuredRAMCache):
                assert 0 < held <= cap and len(cache.cache_state) == 2
                assert all(np.asarray(s.scores).nbytes for s in cache.cache_state.values())
            else:
                assert held > cap  # the stock cache's cap does not bound its memory
        # the embedded server's app swaps the stock cache it built for the measured one
        llama.set_cache(LlamaRAMCache(capacity_bytes=cap))
        measured_cache(SimpleNamespace(_current_model=llama))
        assert type(llama.cache) is MeasuredRAMCache and llama.cache.capacity_bytes == cap
    finally:
        llama.close()
