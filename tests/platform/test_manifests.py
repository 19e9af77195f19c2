"""Raw Kubernetes manifests and Kubernetes base job templates pass `kubernetes-validate --strict`.

The version is the one of the kind node image `scripts/up.sh` pins (Kubernetes 1.33). Job
templates are rendered the way the worker renders them (`apply_values`, then
`prepare_for_flow_run`), nulls dropped as the API server drops them.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.declarations.pools import WorkPoolDeclaration
from tests.harness.mockstack import StackRun
from tests.platform.conftest import example_pools

KUBERNETES_VERSION = "1.33.0"
"""Matches `KIND_NODE_IMAGE` in scripts/lib.sh (kindest/node:v1.33.1)."""


def kubernetes_validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    """Run the kubernetes-validate CLI in strict mode on these files."""
    cli = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
    assert cli is not None, "kubernetes-validate is not installed (dev dependency group)"
    return subprocess.run(
        [
            cli,
            "--strict",
            "--kubernetes-version",
            KUBERNETES_VERSION,
            "--no-warn",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def drop_nulls(value: Any) -> Any:
    """The value without null fields, as the Kubernetes API server stores a manifest."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def render_job(template: dict[str, Any], image: str) -> dict[str, Any]:
    """The Job manifest a Kubernetes worker would submit for a flow run with this template."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.utilities.templating import apply_values
    from prefect_kubernetes.worker import (  # type: ignore[import-untyped]
        KubernetesWorkerJobConfiguration,
    )

    properties = template["variables"]["properties"]
    values = {name: spec["default"] for name, spec in properties.items() if "default" in spec}
    values.setdefault("image", image)
    configuration = KubernetesWorkerJobConfiguration(
        **apply_values(template["job_configuration"], values)
    )
    configuration.prepare_for_flow_run(
        FlowRun(id=uuid.uuid4(), name="validate-me", flow_id=uuid.uuid4())
    )
    manifest: dict[str, Any] = drop_nulls(configuration.job_manifest)
    manifest["metadata"]["name"] = manifest["metadata"].pop("generateName", "job-") + "x7k2p"
    return manifest


def write(tmp_path: Path, name: str, documents: list[dict[str, Any]]) -> Path:
    """Write manifests as one multi-document YAML file."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


@pytest.mark.parametrize("stack", ["local", "pr", "prod"])
def test_raw_manifests_are_strictly_valid(
    stack_runs: dict[str, StackRun], tmp_path: Path, stack: str
) -> None:
    manifests = stack_runs[stack].kubernetes_manifests()
    kinds = {m["kind"] for m in manifests}
    assert kinds == {
        "Namespace",
        "Secret",
        "ServiceAccount",
        "PersistentVolumeClaim",
        "Deployment",
        "Service",
        "Job",
        "NetworkPolicy",
    } | ({"CronJob"} if stack != "prod" else set())  # the bundled database's backup
    result = kubernetes_validate([write(tmp_path, stack, manifests)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_base_job_templates_render_strictly_valid_jobs(
    stack_runs: dict[str, StackRun], tmp_path: Path
) -> None:
    templates = [
        pool.base_job_template
        for pool in example_pools()
        if pool.type == "kubernetes" and pool.base_job_template is not None
    ]
    assert templates
    jobs = [render_job(dict(t), "prefecthq/prefect:3.9.1-python3.11") for t in templates]
    result = kubernetes_validate([write(tmp_path, "jobs", jobs)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_declared_kubernetes_pools_render_strictly_valid_jobs(
    declared_pools: list[WorkPoolDeclaration], tmp_path: Path
) -> None:
    """Templates from `pools/*.yaml` (the declarations loader's merge)."""
    jobs = [
        render_job(pool.merged_base_job_template(), "prefecthq/prefect:3.9.1-python3.11")
        for pool in declared_pools
        if pool.type == "kubernetes"
    ]
    if not jobs:
        pytest.skip("no Kubernetes pool in pools/")
    result = kubernetes_validate([write(tmp_path, "declared-jobs", jobs)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validator_rejects_the_uncorrected_default_template(tmp_path: Path) -> None:
    """The check bites: prefect-kubernetes' default puts Job fields in the pod spec."""
    from prefect_kubernetes.worker import KubernetesWorker

    default = copy.deepcopy(KubernetesWorker.get_default_base_job_template())
    job = render_job(default, "prefecthq/prefect:3.9.1-python3.11")
    result = kubernetes_validate([write(tmp_path, "default-job", [job])])
    assert result.returncode != 0
    assert "'completions', 'parallelism' were unexpected" in result.stdout + result.stderr
