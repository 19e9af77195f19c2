"""What a test does when something it needs is not on this machine."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip the test with `reason`; under ``CI=true`` fail it instead (CI installs everything)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)
