"""Schema files read safely: only a regular file of the schema folder, of bounded size and
nesting, whose name can name a generated module, becomes a syntax tree."""

from __future__ import annotations

import ast
import keyword
import re
from pathlib import Path

from .annotations import MAX_NESTING, deepest
from .errors import SchemaError
from .model import MODULE_NAME

__all__ = ["MAX_SCHEMA_BYTES", "read_schema"]

# Schema module names that would shadow a module schemas or generated code import.
_SHADOWS = {"abc", "dataclasses", "datetime", "decimal", "enum", "pbtyped", "typing", "uuid"}
#: The largest schema file read. Real schemas are tens of KiB; a syntax tree takes 150 to 250
#: times its source in memory, so the bound keeps one file under about 250 MB.
MAX_SCHEMA_BYTES = 1 << 20


def read_schema(path: Path, shown: str, root: Path) -> ast.Module:
    """The syntax tree of one schema file (``shown`` in errors), read only if its name can name
    a generated module and it is a file of the schema folder ``root``."""
    stem = path.stem
    if not MODULE_NAME.fullmatch(stem) or keyword.iskeyword(stem) or stem in _SHADOWS:
        fix = re.sub(r"[^A-Za-z0-9_]", "_", stem)
        example = f" such as {fix}.py" if fix.isidentifier() else ""
        raise SchemaError(
            shown,
            1,
            f"{stem!r} is not a usable schema module name: rename the file to a name of ASCII "
            f"letters, digits and _{example} (not a keyword, nor one of {sorted(_SHADOWS)})",
        )
    real = path.resolve()
    # A link out of the folder would copy a file the repository does not hold (its docstrings)
    # into generated code; a pipe or a device would never end.
    if not real.is_relative_to(root):
        raise SchemaError(shown, 1, "a symbolic link out of the schema folder: copy the file in")
    if not real.is_file():
        raise SchemaError(shown, 1, "not a regular file: a schema is a Python source file")
    size = real.stat().st_size
    if size > MAX_SCHEMA_BYTES:
        raise SchemaError(
            shown, 1, f"{size} bytes, more than a schema may hold ({MAX_SCHEMA_BYTES}): split it"
        )
    try:
        tree = ast.parse(real.read_text(encoding="utf-8"), filename=shown)
    except UnicodeDecodeError as exc:
        raise SchemaError(shown, 1, f"not UTF-8 text (byte {exc.start})") from None
    except SyntaxError as exc:
        raise SchemaError(shown, exc.lineno or 1, f"syntax error: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise SchemaError(shown, 1, "nested too deeply for Python to parse") from None
    depth, node = deepest(tree)
    if depth > MAX_NESTING:
        line = getattr(node, "lineno", 1)
        raise SchemaError(shown, line, f"nested more than {MAX_NESTING} deep: simplify it")
    return tree
