"""Session fixtures of the container tests: a Docker engine and the flows image.

`docker_engine` uses a running engine or starts dockerd (`tests/harness/docker_engine.py`);
`flows_image` builds ``images/flows/Dockerfile`` once per session, reused across sessions
while its inputs are unchanged. Where no engine can be had, the tests that need one skip
saying why, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.docker_engine import (
    DockerEngine,
    EngineUnavailable,
    FlowsImage,
    build_flows_image,
    find_or_start_engine,
    skip_or_fail,
)


@pytest.fixture(scope="session")
def docker_engine(harness_dir: Path) -> Iterator[DockerEngine]:
    """A Docker engine for the session (started here when none is running)."""
    try:
        engine = find_or_start_engine(harness_dir / "docker")
    except EngineUnavailable as exc:
        skip_or_fail(str(exc))
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def flows_image(docker_engine: DockerEngine, harness_dir: Path) -> FlowsImage:
    """The flows image (tagged `FLOWS_IMAGE`), built or reused once per session."""
    try:
        image = build_flows_image(docker_engine, harness_dir / "docker")
    except EngineUnavailable as exc:
        skip_or_fail(str(exc))
    print(
        f"flows image {image.tag}: base {image.base.tag} "
        f"({'reused' if image.base.cached else f'built in {image.base.seconds:.0f} s'}), "
        f"image {'reused' if image.build.cached else f'built in {image.build.seconds:.0f} s'}"
    )
    return image
