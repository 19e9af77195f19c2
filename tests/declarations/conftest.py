"""Fixtures for the declaration tests: a copy of the fixture repository to break."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURE_REPO = Path(__file__).parent / "fixture_repo"

#: The environment the fixture prefect.yaml's `{{ $VAR }}` placeholders read.
FIXTURE_ENV = {"FX_ORIGIN": "tests", "FX_REPO_URL": "https://example.invalid/fixture.git"}


@pytest.fixture(autouse=True)
def fixture_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Set the fixture's environment variables and keep the template cache out of $HOME."""
    for key, value in FIXTURE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PREFECT_PLATFORM_CACHE_DIR", str(_session_cache(tmp_path_factory)))
    yield


_CACHE: list[Path] = []


def _session_cache(factory: pytest.TempPathFactory) -> Path:
    if not _CACHE:
        _CACHE.append(factory.mktemp("template-cache"))
    return _CACHE[0]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A writable copy of tests/declarations/fixture_repo (valid as copied)."""
    target = tmp_path / "repo"
    shutil.copytree(FIXTURE_REPO, target)
    return target
