"""The Python SDK's mic gate (sdk/mic_gate.py): a kiosk holds its quiet microphone
back while nobody is there and sends the held second first when a sound or a
visitor comes. The same cases as the browser's twin (tests/browser/js/mic_gate.test.mjs)."""

from __future__ import annotations

import numpy as np
import pytest

from sdk.mic_gate import MicGate, chunk_level

RATE = 16000
CHUNK = 320  # 20 ms


def chunk(level: float = 0.0, tag: int = 0) -> bytes:
    """A 20 ms chunk: silence, or a tone at `level` of full scale (RMS), numbered in sample 0."""
    out = np.round(level * 32767 * np.sqrt(2) * np.sin(np.arange(CHUNK) / 3)).astype(np.int16)
    out[0] = tag
    return out.tobytes()


def tag(pcm: bytes) -> int:
    return int(np.frombuffer(pcm, np.int16)[0])


def test_quiet_and_nobody_there_sends_nothing_and_a_sound_sends_the_held_second_first() -> None:
    gate = MicGate(RATE)
    sent = [c for i in range(100) for c in gate.offer(chunk(0, i), "away")]
    assert len(sent) == 99, "quiet audio is sent for the hangover (2 s), then held"
    assert not gate.open
    assert all(gate.offer(chunk(0, i), "away") == [] for i in range(100, 400))
    sent = gate.offer(chunk(0.1, 400), "away")
    assert [tag(c) for c in sent] == list(range(350, 401)), "oldest first, nothing lost"
    assert gate.openings == 1
    assert gate.withheld == 400 - 99 - 50
    assert gate.sent == 99 + 51


def test_any_state_but_away_opens_it_and_a_visitor_keeps_it_open() -> None:
    gate = MicGate(RATE)
    for _ in range(200):
        gate.offer(chunk(), "away")
    assert len(gate.offer(chunk(), "approaching")) == 51
    assert all(len(gate.offer(chunk(), "engaged")) == 1 for _ in range(500))
    assert all(len(gate.offer(chunk(), "away")) == 1 for _ in range(99)), "the hangover"
    assert gate.offer(chunk(), "away") == []
    assert len(MicGate(RATE).offer(chunk(), None)) == 1, "no presence: always open"


def test_a_level_below_the_threshold_does_not_open_it() -> None:
    gate = MicGate(RATE)
    for _ in range(200):
        gate.offer(chunk(), "away")
    assert chunk_level(chunk(0.005)) == pytest.approx(0.005, rel=0.05)
    assert gate.offer(chunk(0.005), "away") == []
    assert len(gate.offer(chunk(0.02), "away")) == 51


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        MicGate(0)
    with pytest.raises(ValueError, match="open_level"):
        MicGate(RATE, open_level=0)
