"""RateGate: a sender at the gate's rate passes whole despite jitter; faster ones are thinned.
CameraGate: the camera at its rate, at the lower one while the avatar speaks."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.face.rate_gate import CameraGate, RateGate


def admitted_per_second(send_fps: float, gate_fps: float, jitter_s: float, seconds: float = 60.0) -> float:
    rng = np.random.default_rng(0)
    gate = RateGate(gate_fps)
    times = np.arange(0, seconds, 1 / send_fps) + rng.uniform(-jitter_s, jitter_s, int(seconds * send_fps))
    return sum(gate.admit(float(t)) for t in np.sort(times)) / seconds


def test_a_jittery_sender_at_the_gates_rate_is_not_halved() -> None:
    # a browser timer at 10 fps, frames 95-105 ms apart: the old strict gate admitted about half
    assert admitted_per_second(10, 10, 0.005) == pytest.approx(10, abs=0.1)
    assert admitted_per_second(12, 10, 0.005) <= 10.7


def test_faster_senders_are_held_near_the_rate() -> None:
    assert 9.5 <= admitted_per_second(25, 10, 0.003) <= 11.0
    assert 9.5 <= admitted_per_second(30, 10, 0.0) <= 11.0


def test_no_catch_up_burst_after_a_pause() -> None:
    gate = RateGate(10)
    assert gate.admit(0.0)
    assert gate.admit(5.0)  # after 5 s idle
    assert not gate.admit(5.04)  # not a burst of the 50 missed slots
    assert gate.admit(5.1)


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateGate(0)


def test_the_camera_gate_halves_a_10_fps_camera_while_the_avatar_speaks() -> None:
    gate = CameraGate(10, 5)
    rng = np.random.default_rng(0)
    # a 10 fps camera: 10 s listening, 10 s speaking, 10 s listening again
    times = np.arange(300) * 0.1 + rng.uniform(-0.005, 0.005, 300)
    admitted = [gate.admit(float(t), speaking=100 <= k < 200) for k, t in enumerate(times)]
    per_phase = [sum(admitted[i * 100:(i + 1) * 100]) for i in range(3)]
    assert per_phase[0] == per_phase[2] == 100, per_phase  # every frame: the full rate is back
    assert 49 <= per_phase[1] <= 51, per_phase


def test_the_camera_gate_never_speeds_up_while_speaking() -> None:
    gate = CameraGate(2.5, 5)  # the quality ladder went below the speaking rate
    assert gate.speaking_rate == 2.5
    assert sum(gate.admit(t / 10, speaking=True) for t in range(100)) <= 26
