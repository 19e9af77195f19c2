"""The providers' captured connection: pickled once per program, secret wherever it goes.

Runs the whole program under the mocks (tests/harness/mockstack.py), which see every
resource's inputs as the engine receives them: the serialized provider (`__provider`) of
each Prefect object carries the connection, so it must arrive as a secret, and unpickled it
must give the provider the connection the program built.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import dill  # type: ignore[import-untyped]
import pytest
from pulumi import output as pulumi_output
from pulumi.runtime import sync_await
from pulumi.runtime._serialization import _deserialize

from infra import program
from infra.providers import serialization
from tests.harness.mockstack import SECRET_PREFIX, declared_secrets, run_stack, stack_config

REPO = Path(__file__).resolve().parents[2]
SECRET_SIGNATURE = "1b47061264138c4ac30d75fd1eb44270"


def test_every_provider_carries_the_connection_as_a_secret_resolved_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREFECT_PLATFORM_REPO_URL", "https://github.com/acme/platform.git")
    monkeypatch.setenv("PREFECT_PLATFORM_BRANCH", "main")
    resolutions: list[Any] = []
    original = sync_await._sync_await  # what both modules below imported

    def counting(awaitable: Any) -> Any:
        resolutions.append(awaitable)
        return original(awaitable)

    # Pickling an Output resolves it through pulumi.output's own _sync_await.
    monkeypatch.setattr(serialization, "_sync_await", counting)
    monkeypatch.setattr(pulumi_output, "_sync_await", counting)
    run = run_stack(
        "local",
        stack_config("local"),
        declared_secrets(),
        program_main=lambda: program.main(REPO),
    )

    dynamic = [r for r in run.resources if r.type.startswith("pulumi-python:dynamic/")]
    assert len(dynamic) > 10
    assert len(resolutions) == 1, "the connection was resolved once per resource"
    for resource in dynamic:
        field = resource.raw["__provider"]
        assert isinstance(field, dict), f"{resource.name}: the serialized provider is not secret"
        assert field["4dabf18193072939515e22adb298388d"] == SECRET_SIGNATURE
        provider = _deserialize(lambda value=field["value"]: dill.loads(base64.b64decode(value)))
        connection = provider.connection({})
        assert connection["auth_string"].startswith(f"admin:{SECRET_PREFIX}"), resource.name
