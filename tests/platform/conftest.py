"""Fixtures for the platform tests: each stack's program run once under Pulumi's mock engine."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from infra.declarations import load_declarations
from infra.declarations.pools import WorkPoolDeclaration
from infra.platform_types import PoolSpec
from tests.harness.mockstack import REPO, SECRET_PREFIX, StackRun, run_stack, stack_config

STACKS = ("local", "pr", "prod", "docker")
"""Every `Pulumi.<stack>.yaml` in the repository."""

STACK_SECRETS: dict[str, dict[str, str]] = {
    "prod": {
        "databaseUrl": f"postgresql+asyncpg://prefect:{SECRET_PREFIX}db@db.internal:5432/prefect"
    },
}
"""The secrets a stack needs (`pulumi config set --secret ...`), as sentinel values."""

HELM_REFERENCE_ENV = "PREFECT_HELM_REFERENCE"
"""Where prefect-helm's values.schema.json files are (default: ../shared/reference/prefect-helm)."""


def kubernetes_pool_template() -> dict[str, Any]:
    """prefect-kubernetes' default base job template, made valid for Kubernetes.

    The installed default puts `completions` and `parallelism` in the *pod* spec, where a strict
    Kubernetes schema rejects them (they belong to the Job spec); this moves them. Jobs run in
    the stack's namespace as the `prefect-flow-runs` service account.
    """
    from prefect_kubernetes.worker import KubernetesWorker  # type: ignore[import-untyped]

    template: dict[str, Any] = copy.deepcopy(KubernetesWorker.get_default_base_job_template())
    job_spec = template["job_configuration"]["job_manifest"]["spec"]
    pod_spec = job_spec["template"]["spec"]
    for key in ("completions", "parallelism"):
        if key in pod_spec:
            job_spec[key] = pod_spec.pop(key)
    properties = template["variables"]["properties"]
    properties["namespace"]["default"] = "prefect"
    properties["service_account_name"]["default"] = "prefect-flow-runs"
    return template


def example_pools() -> list[PoolSpec]:
    """The pools the example stacks name, with the Kubernetes pool's template."""
    return [
        PoolSpec("kubernetes-pool", "kubernetes", kubernetes_pool_template()),
        PoolSpec("process-pool", "process"),
        PoolSpec("docker-pool", "docker"),
    ]


@pytest.fixture(scope="session")
def declared_pools() -> list[WorkPoolDeclaration]:
    """The repository's own `pools/*.yaml`, read by the declarations loader (at least one)."""
    pools = load_declarations(REPO).work_pools
    assert pools, "no pools/*.yaml in this checkout"
    return pools


@pytest.fixture(scope="session")
def stack_runs() -> dict[str, StackRun]:
    """Every stack's program, run once with its real stack file and the example pools."""
    return {
        stack: run_stack(stack, stack_config(stack), STACK_SECRETS.get(stack), example_pools())
        for stack in STACKS
    }


@pytest.fixture(scope="session")
def helm_reference() -> Path:
    """prefect-helm's reference schemas; the tests that need them skip, saying so, when absent."""
    path = Path(os.environ.get(HELM_REFERENCE_ENV, REPO.parent / "shared/reference/prefect-helm"))
    if not (path / "prefect-server/values.schema.json").exists():
        pytest.skip(
            f"prefect-helm reference schemas not found at {path} "
            f"(set {HELM_REFERENCE_ENV} to a copy of prefect-helm's charts/)"
        )
    return path
