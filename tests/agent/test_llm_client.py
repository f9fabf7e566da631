"""check_llm_endpoint fails fast and clearly; build_messages shapes a turn."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from agent import LLMEndpointError, build_messages, check_llm_endpoint, make_client, warm_up
from agent.llm_server import EmbeddedLLMServer, free_port


@pytest.mark.timeout(10)
async def test_nothing_listening_is_reported_as_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(LLMEndpointError, match="cannot reach LLM endpoint"):
        await check_llm_endpoint(url, "key", timeout_s=2.0)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP port that accepts connections (kernel backlog) but never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.mark.timeout(10)
async def test_a_hanging_endpoint_times_out(silent_server: str) -> None:
    with pytest.raises(LLMEndpointError, match=r"did not answer within 0\.5 s"):
        await check_llm_endpoint(silent_server, "key", timeout_s=0.5)


@pytest.mark.timeout(30)
async def test_a_wrong_path_is_reported_with_its_status(
    smollm2_server: EmbeddedLLMServer,
) -> None:
    wrong = smollm2_server.base_url.removesuffix("/v1") + "/api"
    with pytest.raises(LLMEndpointError, match="HTTP 404"):
        await check_llm_endpoint(wrong, "key")
    await check_llm_endpoint(smollm2_server.base_url, "key")  # the right URL is healthy


def test_build_messages_orders_system_history_user() -> None:
    history = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
    ]
    messages = build_messages("You are a kiosk.", "Where is the cafe?", history)  # type: ignore[arg-type]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[-1]["content"] == "Where is the cafe?"
    with pytest.raises(ValueError, match="must not be empty"):
        build_messages("You are a kiosk.", "   ")


@pytest.mark.timeout(60)
async def test_warm_up_evaluates_the_prompt_and_reports_a_dead_endpoint(
    smollm2_server: EmbeddedLLMServer,
) -> None:
    client = make_client(smollm2_server.base_url, "key")
    seconds = await warm_up(client, model="smollm2", system_prompt="You are a kiosk.")
    await client.close()
    assert seconds > 0.0
    dead = make_client(f"http://127.0.0.1:{free_port()}/v1", "key", timeout_s=2.0)
    with pytest.raises(LLMEndpointError, match="warm it up"):
        await warm_up(dead, model="smollm2", system_prompt="You are a kiosk.")
    await dead.close()
