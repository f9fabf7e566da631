"""Loading a bench script as a module without running its `main` (scripts are not a
package: no script imports another, so the tests load them by path)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_script(script: Path, name: str) -> ModuleType:
    """`script` executed as module `name` (its `if __name__ == "__main__"` part skipped)."""
    spec = importlib.util.spec_from_file_location(name, script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module
