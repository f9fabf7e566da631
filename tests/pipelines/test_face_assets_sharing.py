"""The face assets a process's services share while they load (real models).

A service that stops while it waits for the shared loading (its task cancelled)
must leave the loading to the next service: an app that runs one pipeline after
another in one process gets its second face from the same assets.
"""

from __future__ import annotations

import asyncio

from pipelines.face.face_assets import FirstFace, shared_loading
from pipelines.settings.sections import AvatarSettings


class Holder:
    """Stands where a service holds the assets (anything weakly referenceable)."""


async def test_a_service_that_gives_up_waiting_leaves_the_loading_to_the_next() -> None:
    settings = AvatarSettings(face_process=False, default_portrait="grace_hopper")
    first_holder, second_holder = Holder(), Holder()
    shared = shared_loading(settings, first_holder)
    waiting = asyncio.ensure_future(asyncio.wrap_future(shared.assets))
    await asyncio.sleep(0)
    waiting.cancel()  # the first service stopped while it waited
    await asyncio.gather(waiting, return_exceptions=True)
    assert not shared.assets.cancelled() and not shared.failed
    again = shared_loading(settings, second_holder)
    assert again is shared
    first = await asyncio.wait_for(asyncio.wrap_future(again.first), timeout=120)
    assert isinstance(first, FirstFace) and first.portraits.get().name == "grace_hopper"
