"""End to end: an operator's knowledge file the kiosk can hardly read still gives a serving
kiosk. The server is started as `serve` starts it (`load_runtime` on the settings, the file
named by `persona.knowledge_file`), a start-up warning names the problem and its line, and
a visitor who asks something gets a spoken reply (agent/answers/knowledge_file.py; each
case on its own: tests/answers/test_knowledge_file.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from pipelines.server.app import ServerConfig, load_runtime
from pipelines.settings import Settings
from sdk.client import VoiceClient
from sdk.talk import talk

pytestmark = pytest.mark.e2e

#: (file bytes, what the start-up warning says, the line it names or None)
FILES = {
    "empty": (b"<!-- the operator's notes, and nothing else -->\n", "empty", None),
    "utf16_prose_twice_contradicting": (
        ("Welcome to our bakery on Elm Street.\n\nHours: 7 a.m. to 3 p.m.\nParking: free "
         "behind the shop.\nParking: no, there is no parking.\n").encode("utf-16"),
        "contradiction", "lines 4 and 5"),
}


@pytest.mark.parametrize("case", sorted(FILES))
async def test_the_kiosk_serves_on_a_file_it_warns_about(
        case: str, tmp_path: Path, llm_endpoint: Any, start_server: Any, say: Any) -> None:
    data, warned, where = FILES[case]
    path = tmp_path / "knowledge.md"
    path.write_bytes(data)
    settings = Settings.load(avatar={"video": False}, persona={"knowledge_file": path},
                             llm={"base_url": llm_endpoint.base_url, "model": "smollm2"})
    seen: list[str] = []
    sink = logger.add(lambda message: seen.append(str(message)), level="WARNING")
    try:
        runtime, llm_server = await load_runtime(settings=settings, warm_up=False)
    finally:
        logger.remove(sink)
    assert llm_server is None  # the test's own LLM endpoint
    warnings = [line for line in seen if "knowledge file" in line and str(path) in line]
    assert any(warned in line and (where is None or where in line) for line in warnings), seen
    server = start_server(runtime, ServerConfig())
    async with await VoiceClient.connect(server.url, busy_retry_secs=60) as client:
        reply = await talk(client, say("Where can I park my car?"), timeout_secs=90)
    assert reply.completed and reply.reply_text.strip(), reply.reply_text
    assert reply.audio, "no reply audio"
