"""Where the avatar keeps what it derives on this machine and may reuse after a restart.

`$AVATAR_FORCING_CACHE_DIR`, else `$XDG_CACHE_HOME/avatar-forcing`, else
`~/.cache/avatar-forcing` (the same root as agent/bundled_models.py's), each kind of
file in a folder of its own. Everything there can be deleted: it is made again.
"""

from __future__ import annotations

import os
from pathlib import Path


def avatar_cache_root() -> Path:
    """The cache's root folder (not created here)."""
    explicit = os.environ.get("AVATAR_FORCING_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "avatar-forcing"
