"""The stack's Dask cluster (infra/components/dask_cluster.py) under Pulumi's mocks.

The real `local` stack program runs with `dask.enabled`; the `dask` chart release must be
pinned, run the configured image, let workers report to the API with the auth string taken
from its Secret by reference, and come with a NetworkPolicy admitting the namespace's pods.
No schema of the Dask chart is available here (it ships none, and /work/shared/reference has
no copy), so the values are checked against the keys of the chart's own `values.yaml` at the
pinned version, listed below.
"""

from __future__ import annotations

from typing import Any

import pytest

from infra.components.dask_cluster import RELEASE_NAME, scheduler_address, split_image
from infra.components.versions import DASK_CHART_VERSION, DASK_HELM_REPOSITORY
from infra.config import ConfigError
from infra.config_loader import parse_config
from tests.harness.mockstack import SECRET_PREFIX, StackRun, run_stack, stack_config
from tests.platform.conftest import example_pools

IMAGE = "registry.example/prefect-platform-integrations:3.9.1-python3.11"

CHART_KEYS: dict[str, set[str]] = {
    "": {"fullnameOverride", "nameOverride", "scheduler", "webUI", "worker", "jupyter"}
    | {"additional_worker_groups"},
    "scheduler": {"affinity", "enabled", "env", "extraArgs", "image", "livenessProbe"}
    | {"loadBalancerIP", "nodeSelector", "readinessProbe", "replicas", "resources"}
    | {"securityContext", "serviceAccountName", "serviceAnnotations", "servicePort"}
    | {"serviceType", "tolerations", "metrics", "name"},
    "worker": {"affinity", "annotations", "custom_scheduler_url", "default_resources", "env"}
    | {"extraArgs", "image", "livenessProbe", "mounts", "nodeSelector", "port"}
    | {"portDashboard", "readinessProbe", "replicas", "resources", "securityContext"}
    | {"serviceAccountName", "strategy", "threads_per_worker", "tolerations", "metrics", "name"},
    "jupyter": {"enabled", "affinity", "args", "command", "env", "extraConfig", "image"}
    | {"ingress", "mounts", "name", "nodeSelector", "password", "rbac", "resources"}
    | {"serviceAccountName", "servicePort", "serviceType", "tolerations", "securityContext"},
    "image": {"repository", "tag", "pullPolicy", "pullSecrets"},
    "worker.image": {"repository", "tag", "pullPolicy", "pullSecrets", "dask_worker"},
}
"""The values the `dask` chart reads (its values.yaml and templates/, github.com/dask/helm-chart
tag 2024.1.1, the pinned version)."""


def _dask_run(**settings: Any) -> StackRun:
    config = {**stack_config("local"), "dask": {"enabled": True, "image": IMAGE, **settings}}
    return run_stack("local", config, None, example_pools())


def test_an_enabled_dask_cluster_is_the_pinned_chart_running_the_stacks_image() -> None:
    run = _dask_run(workers=3, workerMemory="4Gi")

    (release,) = [r for r in run.helm_releases() if r.inputs["chart"] == "dask"]
    inputs = release.inputs
    assert (inputs["name"], inputs["version"]) == (RELEASE_NAME, DASK_CHART_VERSION)
    assert inputs["repositoryOpts"]["repo"] == DASK_HELM_REPOSITORY
    assert inputs["namespace"] == "prefect"
    values = inputs["values"]
    for path, allowed in CHART_KEYS.items():
        if path in ("image", "worker.image"):
            continue
        section = values if not path else values.get(path, {})
        assert set(section) <= allowed, (path, set(section) - allowed)
    assert set(values["scheduler"]["image"]) <= CHART_KEYS["image"]
    assert set(values["worker"]["image"]) <= CHART_KEYS["worker.image"]
    repository, tag = split_image(IMAGE)
    for part in ("scheduler", "worker"):
        image = values[part]["image"]
        assert (image["repository"], image["tag"]) == (repository, tag)
    assert values["jupyter"] == {"enabled": False}
    worker = values["worker"]
    assert (worker["replicas"], worker["threads_per_worker"]) == (3, 1)
    assert worker["resources"]["limits"] == {"cpu": "1", "memory": "4Gi"}
    env = {entry["name"]: entry for entry in worker["env"]}
    assert env["PREFECT_API_URL"]["value"].endswith(".svc.cluster.local:4200/api")
    assert env["PREFECT_API_AUTH_STRING"] == {
        "name": "PREFECT_API_AUTH_STRING",
        "valueFrom": {"secretKeyRef": {"name": "prefect-server-auth", "key": "auth-string"}},
    }
    assert SECRET_PREFIX not in str(values)

    (policy,) = [
        m
        for m in run.kubernetes_manifests()
        if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == RELEASE_NAME
    ]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app": "dask", "release": "dask"}
    assert policy["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    assert scheduler_address("prefect") == "tcp://dask-scheduler.prefect.svc.cluster.local:8786"


def test_no_dask_cluster_unless_enabled() -> None:
    run = run_stack("local", stack_config("local"), None, example_pools())

    assert [r for r in run.helm_releases() if r.inputs["chart"] == "prefect-server"]
    assert not [r for r in run.helm_releases() if r.inputs["chart"] == "dask"]
    assert not [r for r in run.resources if r.type.endswith(":DaskCluster")]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"enabled": True}, "not an image reference"),
        ({"enabled": True, "image": "example/flows:latest"}, "not pinned"),
        ({"enabled": True, "image": "example/flows"}, "not pinned"),
        ({"enabled": True, "image": IMAGE, "workers": 0}, "greater than or equal"),
        ({"enabled": True, "image": IMAGE, "workerMemory": "lots"}, "pattern"),
    ],
)
def test_bad_dask_settings_fail_naming_the_key(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match="prefect-platform:dask") as error:
        parse_config({**stack_config("local"), "dask": settings})
    assert problem in str(error.value)
