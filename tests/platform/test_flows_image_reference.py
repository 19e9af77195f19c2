"""`prefect-platform:flowsImage`: a stack that pulls the flows image from a registry.

The whole program runs under the mocks; the work pools and deployments it declares must name
the configured reference wherever the files name `FLOWS_IMAGE`, and nothing else changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra import program
from infra.components.versions import FLOWS_IMAGE
from infra.declarations import load_declarations
from infra.flows_image import use_flows_image
from tests.harness.mockstack import declared_secrets, run_stack, stack_config

REPO = Path(__file__).resolve().parents[2]
GHCR = "ghcr.io/acme/platform/prefect-platform-flows:3.9.1-python3.11@sha256:" + "ab" * 32


def _images(value: Any) -> list[str]:
    """Every `image` value anywhere in a nested input."""
    if isinstance(value, dict):
        found = [value["image"]] if isinstance(value.get("image"), str) else []
        return found + [image for item in value.values() for image in _images(item)]
    if isinstance(value, list):
        return [image for item in value for image in _images(item)]
    return []


def _declared_images(flows_image: str | None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("PREFECT_PLATFORM_REPO_URL", "https://github.com/acme/platform.git")
    monkeypatch.setenv("PREFECT_PLATFORM_BRANCH", "main")
    config = stack_config("local")
    if flows_image is not None:
        config["flowsImage"] = flows_image
    run = run_stack("local", config, declared_secrets(), program_main=lambda: program.main(REPO))
    objects = [
        resource.inputs
        for kind in ("WorkPool", "Deployment")
        for resource in run.of_type(f"pulumi-python:dynamic/prefect:{kind}")
    ]
    assert objects, "the program declared no work pool or deployment"
    return [image for inputs in objects for image in _images(inputs)]


def test_by_default_pools_and_deployments_name_the_local_flows_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = _declared_images(None, monkeypatch)
    assert FLOWS_IMAGE in images
    assert GHCR not in images


def test_a_registry_reference_replaces_the_local_name_everywhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    images = _declared_images(GHCR, monkeypatch)
    assert GHCR in images
    assert FLOWS_IMAGE not in images


def test_only_the_flows_image_is_renamed() -> None:
    declared = load_declarations(REPO)
    renamed = use_flows_image(declared, GHCR)
    for before, after in zip(declared.deployments, renamed.deployments, strict=True):
        job_variables = dict(before.entry.work_pool.job_variables)
        if job_variables.get("image") == FLOWS_IMAGE:
            job_variables["image"] = GHCR
        assert after.entry.work_pool.job_variables == job_variables
        assert after.provider_inputs().dump() | {"job_variables": {}} == (
            before.provider_inputs().dump() | {"job_variables": {}}
        )
    assert [pool.job_variables.get("image") for pool in renamed.work_pools] == [
        GHCR if pool.job_variables.get("image") == FLOWS_IMAGE else pool.job_variables.get("image")
        for pool in declared.work_pools
    ]
