"""The in-tree build backend of avatar-forcing (PEP 517 / PEP 660): setuptools, with
the wheel and sdist built from a namespaced copy of the tree (docs/PACKAGING.md).

`pyproject.toml` names `avatar_forcing_build.backend` with `backend-path =
["build_backend"]`; nothing here is installed or imported by the product.
"""
