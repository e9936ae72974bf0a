"""The size rule of the style guide, as a property of the source: no module of the package
over 400 lines, no function over 60 lines of code.

A function's docstring is not counted: it documents, it adds no logic to read through (the
longest docstrings, e.g. `load_image_folder`'s argument list, would otherwise push a 45-line
function over the limit). Nested functions count within their parent too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import squeezenet

PACKAGE_ROOT = Path(squeezenet.__file__).parent
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the `def` to the end, less the docstring's."""
    total = node.end_lineno - node.lineno + 1
    first = node.body[0]
    is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    if is_doc and isinstance(first.value.value, str) and len(node.body) > 1:
        total -= node.body[1].lineno - first.lineno
    return total


def _sources() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("*.py"))


def test_no_module_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE_ROOT)): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_FILE_LINES
    }
    assert not long, f"modules over {MAX_FILE_LINES} lines (split them by concern): {long}"


def test_no_function_over_60_lines_of_code() -> None:
    long = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            if is_function and (n := _code_lines(node)) > MAX_FUNCTION_LINES:
                long[f"{path.relative_to(PACKAGE_ROOT)}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines of code: {long}"


def test_the_docstring_is_all_that_is_left_out() -> None:
    source = 'def f():\n    """Doc\n    more doc."""\n    a = 1\n    return a\n'
    assert _code_lines(ast.parse(source).body[0]) == 3  # def, a = 1, return a
