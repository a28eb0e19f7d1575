"""The test tree itself: pytest imports test modules by basename, so two with one name break collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_module_basenames_are_unique() -> None:
    names = Counter(
        p.name for p in Path(__file__).parent.rglob("*.py") if p.name != "conftest.py" and p.name != "__init__.py"
    )
    assert not [n for n, c in names.items() if c > 1]
