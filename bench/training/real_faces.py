"""Figure: none; writes the real face tracks cache/real_faces/{train,test}/*.npz and prints their list (JSON).

No figure: the train pool feeds `avatar-forcing corpus --real-faces`, the test pool
the held-out users of bench/training/reactivity.py (docs/reactivity.png). The split and the
analysis are benchkit/real_faces.py.

    python bench/training/real_faces.py            # idempotent; prints what it wrote
"""

from __future__ import annotations

import json

from benchkit.real_faces import build


def main() -> None:
    print(json.dumps(build(), indent=1))


if __name__ == "__main__":
    main()
