"""`AvatarForcingSettings`: the face service's settings, in pipecat's `ServiceSettings` form.

One object holds what the face is told: the service keeps a complete one (store
mode, `service.settings`), and a `ServiceUpdateSettingsFrame` carries a sparse one
(delta mode: only the fields to change). Its fields are those of the `[avatar]`
section of our settings tree (docs/CONFIG.md), which stays the one schema: every
value is checked by that section's validators (`section()`), at construction and on
every update, so `size=100` is refused with the section's own message.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from pipecat.frames.frames import ServiceUpdateSettingsFrame
from pipecat.services.settings import ServiceSettings
from pipecat.utils.types import NOT_GIVEN, NotGiven

from pipelines.settings import AvatarSettings

#: the service's model name in pipecat's metrics
MODEL_NAME = "avatar-forcing"
#: `[avatar]` fields that concern a server only (which clients get video at all)
SERVER_ONLY = frozenset({"video"})
#: the section spells the portrait `default_portrait`; the service `portrait`
_SECTION_NAMES = {"portrait": "default_portrait"}


def _not_given() -> Any:
    return NOT_GIVEN


@dataclass
class AvatarForcingSettings(ServiceSettings):
    """The face: its portrait and size, the camera rate, adapting, the worker processes
    and each session's pacing (each field's meaning: docs/CONFIG.md, `[avatar]`).

    `AvatarForcingVideoService.Settings(size=384)` is a delta over the defaults;
    `AvatarForcingVideoService.Settings.load()` reads the config file and the
    `AVATAR_FORCING_AVATAR_*` environment as our server does.
    """

    _aliases: ClassVar[dict[str, str]] = {"default_portrait": "portrait"}

    portrait: str | NotGiven = field(default_factory=_not_given)
    portrait_dir: Path | None | NotGiven = field(default_factory=_not_given)
    size: int | NotGiven = field(default_factory=_not_given)
    video_budget_ms: float | NotGiven = field(default_factory=_not_given)
    adapt_video: bool | NotGiven = field(default_factory=_not_given)
    calibrate_portraits: bool | NotGiven = field(default_factory=_not_given)
    face_process: bool | NotGiven = field(default_factory=_not_given)
    warm_face_workers: int | NotGiven = field(default_factory=_not_given)
    face_worker_sessions: int | NotGiven = field(default_factory=_not_given)
    faces_per_worker: int | NotGiven = field(default_factory=_not_given)
    batch_steps: bool | NotGiven = field(default_factory=_not_given)
    lead_secs: float | NotGiven = field(default_factory=_not_given)
    rebase_secs: float | NotGiven = field(default_factory=_not_given)
    camera_fps: float | NotGiven = field(default_factory=_not_given)
    camera_fps_while_speaking: float | NotGiven = field(default_factory=_not_given)
    threads: int | NotGiven = field(default_factory=_not_given)
    thinking_camera_pause_secs: float | NotGiven = field(default_factory=_not_given)
    thinking_frame_stride: int | NotGiven = field(default_factory=_not_given)
    thinking_hold_secs: float | NotGiven = field(default_factory=_not_given)
    worker_nice: int | NotGiven = field(default_factory=_not_given)
    image_lead_frames: int | NotGiven = field(default_factory=_not_given)
    images_sync_with_audio: bool | NotGiven = field(default_factory=_not_given)
    stats_interval_secs: float | NotGiven = field(default_factory=_not_given)

    @classmethod
    def from_section(cls, section: AvatarSettings) -> AvatarForcingSettings:
        """A complete store from the `[avatar]` section (every field given)."""
        values = {name: getattr(section, _SECTION_NAMES.get(name, name))
                  for name in face_field_names()}
        return cls(model=MODEL_NAME, **values)

    @classmethod
    def defaults(cls) -> AvatarForcingSettings:
        """A complete store of the section's defaults."""
        return cls.from_section(AvatarSettings())

    @classmethod
    def load(cls, config_file: Path | None = None, **values: Any) -> AvatarForcingSettings:
        """A complete store as our server reads it: `values` over the environment over the
        `[avatar]` table of `config_file` over the defaults (errors: `Settings.load`'s)."""
        return cls.from_section(AvatarSettings.load(config_file, **values))

    def section(self) -> AvatarSettings:
        """These values as the `[avatar]` section, checked by its validators (a pydantic
        `ValidationError` names a bad one). Fields not given take the section's defaults."""
        values = {_SECTION_NAMES.get(name, name): value
                  for name, value in self.given_fields().items()
                  if name in face_field_names()}
        return AvatarSettings.model_validate(values)

    def unknown(self) -> set[str]:
        """The keys given that are no field of the face (kept in `extra`, pipecat's way)."""
        return set(self.extra)


def complete_settings(settings: AvatarForcingSettings | None) -> AvatarForcingSettings:
    """The defaults with `settings` over them, checked by the section's validators (a
    bad value raises pydantic's `ValidationError`; a key no field of the face,
    ValueError; another settings type, TypeError)."""
    store = AvatarForcingSettings.defaults()
    if settings is not None:
        if not isinstance(settings, AvatarForcingSettings):
            raise TypeError(f"settings must be AvatarForcingVideoService.Settings, got "
                            f"{type(settings).__name__}")
        store.apply_update(settings)
    if store.extra:
        raise ValueError(f"no such avatar setting: {', '.join(sorted(store.extra))}")
    store.section()
    return store


def settings_delta(frame: ServiceUpdateSettingsFrame, service: object,
                   store: AvatarForcingSettings) -> AvatarForcingSettings | None:
    """What a settings frame asks of the face `service` holding `store`: its delta, or
    None when the frame is another service's (pipecat's rule: `frame.service`; a frame
    for no service in particular is ours when it carries our Settings or a dict of our
    fields only). Raises ValueError (pydantic's ValidationError among them) when it is
    ours but refused: a foreign settings type, or a value the section's validators
    refuse once applied (nothing of the frame is applied then)."""
    if frame.service is not None and frame.service is not service:
        return None
    if isinstance(frame.delta, AvatarForcingSettings):
        delta = frame.delta
    elif frame.delta is None and (frame.service is service or is_face_delta(dict(frame.settings))):
        delta = AvatarForcingSettings.from_mapping(frame.settings)
    elif frame.service is service:
        raise ValueError(f"expected AvatarForcingVideoService.Settings, got "
                         f"{type(frame.delta).__name__}")
    else:
        return None
    trial = copy.deepcopy(store)
    trial.apply_update(delta)
    trial.section()
    return delta


def face_field_names() -> tuple[str, ...]:
    """The face's own fields (pipecat's `model` and `extra` aside)."""
    return tuple(f.name for f in fields(AvatarForcingSettings)
                 if f.name not in {"model", "extra"})


def is_face_delta(values: dict[str, Any]) -> bool:
    """Whether every key of a legacy settings dict names a field of the face."""
    names = set(face_field_names()) | set(AvatarForcingSettings._aliases)
    return bool(values) and set(values) <= names


__all__ = ["MODEL_NAME", "SERVER_ONLY", "AvatarForcingSettings", "complete_settings",
           "face_field_names", "is_face_delta", "settings_delta"]
