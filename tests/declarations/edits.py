"""Helpers to break a copy of the fixture repository in one precise place."""

from __future__ import annotations

from pathlib import Path


def edit(repo: Path, relative: str, old: str | None, new: str) -> None:
    """Replace the first ``old`` with ``new`` in a file (``old=None``: write the whole file)."""
    path = repo / relative
    if old is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new)
        return
    text = path.read_text()
    assert old in text, f"{old!r} is not in {relative}: the fixture changed"
    path.write_text(text.replace(old, new, 1))
