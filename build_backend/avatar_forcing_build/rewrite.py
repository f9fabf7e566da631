"""Move one Python module's references to our packages under the `avatar_forcing` namespace.

The repository keeps `agent/`, `avatar/`, `pipelines/`, `sdk/` and `fleet/` at the
top, and its code imports them by those names; the wheel ships them as
`avatar_forcing.agent`, ... because other distributions on PyPI own the bare
names (docs/PACKAGING.md). So every reference to them is rewritten in the staged
copy the wheel is built from, and nowhere else:

- import statements, wherever they sit (module level, inside functions, under
  `if TYPE_CHECKING:`): `import avatar.x`, `import avatar.x as y`, `from avatar.x
  import y`, `from avatar import y`;
- string literals that name one of our modules, with an optional `:attribute`
  (the lazy `_EXPORTS` tables, `python -m agent.llama_cpp_server`, Ray's
  `"fleet.router:FreeSlotsRouter"`, entry points).

It reads the syntax tree (`ast`), so comments and docstring prose are never
touched; a bare top-level name in a string ("avatar") is data here (a settings
section, a metrics kind), never rewritten. What it cannot rewrite safely (an
implicitly concatenated or escaped module string) fails the build loudly rather
than shipping a broken import.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: the namespace the wheel installs everything under
NAMESPACE = "avatar_forcing"

_MODULE_STRING = re.compile(r"^(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?P<attr>:[\w.]+)?$")
_FROM_PREFIX = re.compile(rb"from\s+")


class RewriteError(ValueError):
    """A reference to our packages that the rewrite cannot move safely."""


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def rewrite_source(source: str, packages: Iterable[str], modules: Iterable[str],
                   filename: str = "<module>") -> str:
    """`source` with its references to `packages` moved under `NAMESPACE`.

    `packages` are the top-level names we ship (`avatar`, ...); `modules` every
    dotted module name of ours (`avatar`, `avatar.motion`, ...): a string literal
    is rewritten only when it names one of them, so `"avatar.size"` (a setting)
    stays as it is.
    """
    tops = frozenset(packages)
    known = frozenset(modules)
    data = source.encode("utf-8")
    tree = ast.parse(data, filename=filename)
    line_starts = _line_starts(data)

    def offset(line: int, col: int) -> int:
        return line_starts[line - 1] + col  # ast columns are UTF-8 byte offsets

    docstrings = _docstring_nodes(tree)
    in_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                   for part in ast.walk(node)}
    edits: list[_Edit] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(_top(a.name) in tops for a in node.names):
            start, end = offset(node.lineno, node.col_offset), _end(node, offset)
            edits.append(_Edit(start, end, _import_statement(node, tops)))
        elif (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
              and _top(node.module) in tops):
            start = offset(node.lineno, node.col_offset)
            prefix = _FROM_PREFIX.match(data, start)
            name = node.module.encode()
            if prefix is None or data[prefix.end():prefix.end() + len(name)] != name:
                raise RewriteError(f"{filename}:{node.lineno}: cannot find the module of "
                                   f"`from {node.module} import ...` in its text")
            edits.append(_Edit(prefix.end(), prefix.end() + len(name),
                               f"{NAMESPACE}.{node.module}"))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in docstrings and id(node) not in in_fstrings):
            new_value = rewrite_module_string(node.value, known)
            if new_value is not None:
                start, end = offset(node.lineno, node.col_offset), _end(node, offset)
                edits.append(_Edit(start, end, _literal(data[start:end], node.value,
                                                        new_value, filename, node.lineno)))
    return _apply(data, edits).decode("utf-8")


def rewrite_module_string(value: str, modules: frozenset[str]) -> str | None:
    """`value` moved under the namespace if it names one of `modules` (dotted, or
    with a `:attribute`), else None. A bare top-level name is left alone: in our
    code such strings are data (settings sections, labels), not module paths."""
    match = _MODULE_STRING.match(value)
    if match is None or match["module"] not in modules:
        return None
    if "." not in match["module"] and match["attr"] is None:
        return None
    return f"{NAMESPACE}.{value}"


def _import_statement(node: ast.Import, tops: frozenset[str]) -> str:
    """`import ...` as one or more simple statements that bind the same names.

    `import avatar.motion` binds `avatar`: it becomes `import
    avatar_forcing.avatar.motion; from avatar_forcing import avatar`, so the code
    that follows reads `avatar.motion.x` unchanged."""
    statements = []
    for alias in node.names:
        top = _top(alias.name)
        if top not in tops:
            statements.append(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
        elif alias.asname:
            statements.append(f"import {NAMESPACE}.{alias.name} as {alias.asname}")
        elif "." in alias.name:
            statements += [f"import {NAMESPACE}.{alias.name}", f"from {NAMESPACE} import {top}"]
        else:
            statements.append(f"from {NAMESPACE} import {top}")
    return "; ".join(statements)


def _literal(text: bytes, old: str, new: str, filename: str, line: int) -> str:
    """The string literal `text` (whose value is `old`) with the value `new`."""
    source = text.decode("utf-8")
    prefix_length = len(source) - len(source.lstrip("rRuUbB"))
    prefix, body = source[:prefix_length], source[prefix_length:]
    for quote in ('"""', "'''", '"', "'"):
        if body.startswith(quote) and body.endswith(quote) and body[len(quote):-len(quote)] == old:
            return f"{prefix}{quote}{new}{quote}"
    raise RewriteError(f"{filename}:{line}: the module string {old!r} is not one plain "
                       "literal (concatenated or escaped): write it as one")


def _apply(data: bytes, edits: list[_Edit]) -> bytes:
    """`data` with the non-overlapping `edits` applied."""
    out, position = [], 0
    for edit in sorted(edits, key=lambda e: e.start):
        if edit.start < position:
            raise RewriteError(f"overlapping rewrites at byte {edit.start}")
        out += [data[position:edit.start], edit.text.encode("utf-8")]
        position = edit.end
    out.append(data[position:])
    return b"".join(out)


def _docstring_nodes(tree: ast.Module) -> set[int]:
    """The ids of the docstring constants of the module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                found.add(id(body[0].value))
    return found


def _line_starts(data: bytes) -> list[int]:
    starts = [0]
    for index, byte in enumerate(data):
        if byte == 0x0A:
            starts.append(index + 1)
    return starts


def _end(node: ast.stmt | ast.expr, offset: Callable[[int, int], int]) -> int:
    assert node.end_lineno is not None and node.end_col_offset is not None
    return offset(node.end_lineno, node.end_col_offset)


def _top(dotted: str) -> str:
    return dotted.partition(".")[0]
