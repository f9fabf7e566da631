"""One copy a process of the two ONNX models every session's turn-taking runs:
silero's voice activity model and smart-turn v3.

pipecat's analyzers each build their own onnxruntime session, so every session
paid that build's CPU on the event loop when it started and kept its own model
buffers (docs/PIPECAT.md has the figures). An onnxruntime
session may be run from several threads at once, and neither model keeps state in
it: silero's recurrent state lives in pipecat's Python wrapper, one per analyzer, and
smart-turn has none. So one session each serves every analyzer of the process.

The analyzers below are pipecat's, built without their model load; what their
constructors set besides the model is set here too (checked against pipecat's own
analyzers' results in tests/pipelines/test_shared_turn_models.py).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import onnxruntime
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer
from pipecat.utils.env import env_truthy

SILERO_MODEL = ("pipecat.audio.vad.data", "silero_vad.onnx")
SMART_TURN_MODEL = ("pipecat.audio.turn.smart_turn.data", "smart-turn-v3.2-cpu.onnx")


def _bundled(package: str, name: str) -> str:
    return str(resources.files(package).joinpath(name))


@functools.cache
def silero_session() -> onnxruntime.InferenceSession:
    """silero's model, with pipecat's options (one thread, the CPU provider)."""
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(_bundled(*SILERO_MODEL),
                                        providers=["CPUExecutionProvider"], sess_options=options)


@functools.cache
def smart_turn_session() -> onnxruntime.InferenceSession:
    """smart-turn v3's model, with pipecat's options (sequential, one thread, all
    graph optimisations)."""
    options = onnxruntime.SessionOptions()
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(_bundled(*SMART_TURN_MODEL), sess_options=options)


class SharedSileroModel(SileroOnnxModel):
    """pipecat's silero wrapper (its own recurrent state) on the process's session."""

    def __init__(self) -> None:
        self.session = silero_session()
        self.reset_states()
        self.sample_rates = [8000, 16000]


class SharedSileroVAD(SileroVADAnalyzer):
    """pipecat's silero analyzer on the process's model session."""

    def __init__(self, **kwargs: Any) -> None:
        """As `SileroVADAnalyzer` (sample_rate, params)."""
        VADAnalyzer.__init__(self, **kwargs)
        self._model = SharedSileroModel()
        self._windows_since_reset = 0
        self._low_confidence_windows = 0


class SharedSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    """pipecat's smart-turn v3 analyzer (its bundled model) on the process's session."""

    def __init__(self, **kwargs: Any) -> None:
        """As `LocalSmartTurnAnalyzerV3` without a model path (sample_rate, params)."""
        BaseSmartTurn.__init__(self, **kwargs)
        self._log_data = env_truthy("PIPECAT_SMART_TURN_LOG_DATA", default=False)
        self._session = smart_turn_session()


__all__ = ["SharedSileroModel", "SharedSileroVAD", "SharedSmartTurnAnalyzer", "silero_session",
           "smart_turn_session"]
