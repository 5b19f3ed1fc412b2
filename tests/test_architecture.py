"""The layering rules of DESIGN.md, checked on the source: a broken rule fails the suite."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE_PACKAGES = ("analytics", "models")
PAGE_LINE_LIMIT = 150


def imported_modules(source: str) -> set[str]:
    """Top-level module names imported anywhere in ``source`` (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def core_files() -> list[Path]:
    return sorted(p for pkg in CORE_PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def page_files() -> list[Path]:
    return sorted((ROOT / "pages").glob("*.py"))


def test_the_checker_sees_every_kind_of_import() -> None:
    source = (
        "import os\nimport streamlit.components.v1 as c\nfrom streamlit import cache_data\n"
        "def f():\n    import plotly.express\nfrom . import sibling\n"
    )
    assert imported_modules(source) == {"os", "streamlit", "plotly"}


def test_there_is_core_code_to_check() -> None:
    assert core_files(), "analytics/ and models/ should hold Python files"


@pytest.mark.parametrize("path", core_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_streamlit(path: Path) -> None:
    assert "streamlit" not in imported_modules(path.read_text(encoding="utf-8")), (
        f"{path.relative_to(ROOT)} imports streamlit; the core must stay UI-free "
        "(put Streamlit glue in ui/)"
    )


@pytest.mark.parametrize("path", page_files(), ids=lambda p: p.name)
def test_pages_stay_short(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= PAGE_LINE_LIMIT, (
        f"pages/{path.name} has {lines} lines (limit {PAGE_LINE_LIMIT}): move helpers to ui/"
    )


def test_a_streamlit_import_in_the_core_would_be_caught(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def chart():\n    import streamlit as st\n    st.write(1)\n")
    assert "streamlit" in imported_modules(bad.read_text())
