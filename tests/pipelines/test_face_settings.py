"""The face service's settings, pipecat's way: one typed `Settings` (a `ServiceSettings`
dataclass) whose fields are the `[avatar]` section's, checked by that section's
validators at construction and on every `ServiceUpdateSettingsFrame`, which is matched
by `frame.service` (or, for no service in particular, by carrying the face's own
Settings or a dict of its fields)."""

from __future__ import annotations

from typing import Any

import pytest
from pipecat.frames.frames import ErrorFrame, ServiceUpdateSettingsFrame
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.settings import TTSSettings
from pydantic import ValidationError

from pipelines.face.face_settings import (
    SERVER_ONLY,
    AvatarForcingSettings,
    face_field_names,
    is_face_delta,
)
from pipelines.face.video_service import AvatarForcingVideoService
from pipelines.settings import AvatarSettings


def test_the_settings_hold_every_field_of_the_avatar_section_but_the_servers() -> None:
    section = set(AvatarSettings.model_fields) - SERVER_ONLY - {"default_portrait"}
    assert set(face_field_names()) == section | {"portrait"}


def test_a_complete_store_round_trips_through_the_section() -> None:
    section = AvatarSettings(size=384, default_portrait="someone", camera_fps=5.0)
    store = AvatarForcingSettings.from_section(section)
    store.validate_complete()  # pipecat's own check: no field left NOT_GIVEN
    assert store.portrait == "someone" and store.model == "avatar-forcing"
    assert store.section() == section


def test_a_delta_sets_only_its_fields_and_the_section_spelling_is_an_alias() -> None:
    delta = AvatarForcingSettings.from_mapping({"default_portrait": "ada", "size": 320})
    assert delta.given_fields() == {"portrait": "ada", "size": 320}
    assert is_face_delta({"portrait": "ada", "camera_fps": 2.0})
    assert not is_face_delta({"portrait": "ada", "voice": "amy"})
    assert not is_face_delta({})


def test_bad_settings_are_refused_when_the_service_is_built() -> None:
    """Each before anything loads: the section's own message, or the key named."""
    with pytest.raises(ValidationError, match="size"):
        AvatarForcingVideoService(settings=AvatarForcingVideoService.Settings(size=100))
    with pytest.raises(ValueError, match="colour"):
        AvatarForcingVideoService(settings=AvatarForcingSettings.from_mapping({"colour": "red"}))
    with pytest.raises(TypeError, match="AvatarForcingVideoService.Settings"):
        AvatarForcingVideoService(settings=AvatarSettings())  # type: ignore[arg-type]


async def test_settings_frames_are_matched_by_service_and_checked(avatar_assets: Any) -> None:
    from pipecat.tests.utils import SleepFrame, run_test

    from avatar.live import AvatarSession

    session = AvatarSession(avatar_assets.portraits.get(), avatar_assets.checkpoint,
                            output_rate=24000)
    service = AvatarForcingVideoService(
        session=session, settings=AvatarForcingVideoService.Settings(camera_fps=0.0,
                                                                     adapt_video=False))
    other = FrameProcessor(name="another service")
    for_other = ServiceUpdateSettingsFrame(settings={"camera_fps": 3.0}, service=other)
    for_tts = ServiceUpdateSettingsFrame(delta=TTSSettings(voice="amy"))
    foreign_dict = ServiceUpdateSettingsFrame(settings={"voice": "amy"})
    down, up = await run_test(service, frames_to_send=[
        for_other, for_tts, foreign_dict,
        ServiceUpdateSettingsFrame(delta=AvatarForcingVideoService.Settings(camera_fps=4.0)),
        ServiceUpdateSettingsFrame(settings={"size": 100}, service=service),
        ServiceUpdateSettingsFrame(delta=TTSSettings(voice="amy"), service=service),
        SleepFrame(0.5)], expected_down_frames=None, expected_up_frames=None)
    passed = [f for f in down if isinstance(f, ServiceUpdateSettingsFrame)]
    assert passed == [for_other, for_tts, foreign_dict]
    assert service.face_settings.camera_fps == 4.0  # ours, applied
    assert service.face_settings.size == 512  # the bad size changed nothing
    errors = [f.error for f in up if isinstance(f, ErrorFrame)]
    assert len(errors) == 2, errors
    assert "size" in errors[0] and "refused" in errors[0]
    assert "TTSSettings" in errors[1]
