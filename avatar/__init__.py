"""The face: motion space, face analysis, portraits, renderer, generator, data, metrics.

Knows nothing of pipecat. Public names are exported lazily so that importing a
light module (e.g. `avatar.motion`) does not load mediapipe, OpenCV or torch:

    from avatar import MotionTrack, FaceAnalyzer, Portrait, PortraitRenderer
    from avatar import StreamingGenerator, CausalAudioFeaturizer
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MotionTrack": "avatar.motion",
    "MOTION_COLUMNS": "avatar.motion",
    "MOTION_DIM": "avatar.motion",
    "FaceAnalyzer": "avatar.face_analysis",
    "FaceMeasurement": "avatar.face_analysis",
    "analyze_video": "avatar.face_analysis",
    "analyze_frames": "avatar.face_analysis",
    "Portrait": "avatar.portrait",
    "default_portrait_path": "avatar.portrait",
    "PortraitRenderer": "avatar.render",
    "read_video": "avatar.video_io",
    "VideoWriter": "avatar.video_io",
    "retarget_video": "avatar.retarget",
    "CausalAudioFeaturizer": "avatar.audio_features",
    "compute_features": "avatar.audio_features",
    "StreamingGenerator": "avatar.generator",
    "MotionGenerator": "avatar.generator",
    "RuleBaseline": "avatar.baseline",
    "AvatarError": "avatar.errors",
    "NotAnImageError": "avatar.errors",
    "NotAVideoError": "avatar.errors",
    "NoFaceError": "avatar.errors",
    "FaceTooSmallError": "avatar.errors",
    "FaceCutOffError": "avatar.errors",
    "MissingLandmarkerModelError": "avatar.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the defining module on first use of a public name."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'avatar' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)
