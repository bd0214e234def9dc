"""Code says why in a clause; measured figures live in docs/benchmarks.md, where they can be
measured again. This fails on a timing, memory or speed-up figure in a comment or docstring."""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("drift", "warehouse", "pipelines", "incident_api", "scripts", "bench")
FIGURE = re.compile(r"[\d.,]*\d\s?(?:ms|µs|us|ns|MiB|MB|GiB|GB|KiB)\b|[\d.,]*\d\s?×")
"""A number with a unit of time below a second, of memory, or a speed-up (``3×``)."""


def prose(source: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each comment and triple-quoted string (docstrings)."""
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
        elif token.type == tokenize.STRING and token.string.lstrip("rbuRBU")[:3] in ('"""', "'''"):
            for offset, line in enumerate(token.string.splitlines()):
                yield token.start[0] + offset, line


def figures(source: str) -> list[tuple[int, str]]:
    return [(n, m.group(0)) for n, text in prose(source) for m in FIGURE.finditer(text)]


def test_the_check_finds_figures_in_comments_and_docstrings():
    source = (
        'def f():\n    """Fast.\n\n    Took 527 µs before (measured)."""\n'
        "    return 1  # a 3× speed-up\n"
        'X = "12 ms"  # a value, not prose\n'
        'S = """SELECT 1"""\n'
    )
    assert figures(source) == [(4, "527 µs"), (5, "3×")]


def ours(package: str) -> Iterator[Path]:
    """The package's Python files, not those of a virtualenv inside it (bench/.venv-*)."""
    for path in sorted((ROOT / package).rglob("*.py")):
        if not any(part.startswith(".") for part in path.relative_to(ROOT).parts):
            yield path


def test_no_measured_figures_in_code_prose():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {figure}"
        for package in (*PACKAGES, "examples")
        for path in ours(package)
        for line, figure in figures(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "move these to docs/benchmarks.md:\n" + "\n".join(found)
