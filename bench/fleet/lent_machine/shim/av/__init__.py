"""Stand-in for PyAV on a lent bench machine where it is not installed (too large to carry).

The density worker imports avatar.video_io, which imports av at module level, but it
never decodes or encodes video; any use of this module fails loudly."""

from typing import NoReturn


def __getattr__(name: str) -> NoReturn:
    raise ImportError(f"PyAV is not installed on this bench machine (av.{name} used)")
