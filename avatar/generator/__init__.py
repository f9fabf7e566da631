"""Avatar Forcing motion generator: model, samplers, streaming engine, training.

Public names are re-exported here; see docs/GENERATOR.md for the design.
"""

from avatar.generator.config import GeneratorConfig, TrainConfig
from avatar.generator.kv_cache import KVCache
from avatar.generator.model import MotionGenerator
from avatar.generator.sampler import Guidance, sample_sequence
from avatar.generator.streaming import StreamingGenerator, Window, step_windows

__all__ = [
    "GeneratorConfig",
    "Guidance",
    "KVCache",
    "MotionGenerator",
    "StreamingGenerator",
    "TrainConfig",
    "Window",
    "sample_sequence",
    "step_windows",
]
