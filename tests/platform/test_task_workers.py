"""The stack setting `taskWorkers` as the program declares it (mocked engine).

The script and environment run for real in tests/containers/test_task_worker.py; here: the
Kubernetes Deployment (strictly valid, unprivileged, secrets by reference only), the Docker
container, and the settings refused before anything is declared.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import program
from infra.components.task_worker import TaskWorkerConfig, serve_script
from infra.config import ConfigError
from tests.harness.mockstack import StackRun, declared_secrets, run_stack, stack_config
from tests.platform.test_manifests import kubernetes_validate, write

WORKERS = [{"name": "orders", "entrypoints": ["flows/background/orders.py:shipped"], "limit": 4}]
REPO_URL = "https://github.com/acme/platform.git"


@pytest.fixture(autouse=True)
def repository(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The repository and branch `make up` and the workflows export."""
    monkeypatch.setenv("PREFECT_PLATFORM_REPO_URL", REPO_URL)
    monkeypatch.setenv("PREFECT_PLATFORM_BRANCH", "main")
    yield


def _run(stack: str, secrets: dict[str, str] | None = None, **config: Any) -> StackRun:
    values = {**stack_config(stack), "taskWorkers": WORKERS, **config}
    secrets = {**declared_secrets(), **(secrets or {})}
    if stack == "prod":
        secrets["databaseUrl"] = "postgresql+asyncpg://prefect:pw@db.internal:5432/prefect"
    return run_stack(stack, values, secrets, program_main=program.main)


def test_kubernetes_runs_each_task_worker_as_an_unprivileged_deployment(tmp_path: Path) -> None:
    run = _run("local", {"githubToken": "ghp_for-private-repositories"})
    manifests = run.kubernetes_manifests()
    (deployment,) = [m for m in manifests if m["metadata"]["name"] == "task-worker-orders"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    worker = TaskWorkerConfig.model_validate(WORKERS[0])
    assert container["command"] == ["/bin/sh", "-c", serve_script(worker)]
    assert "--limit 4 'flows/background/orders.py:shipped'" in container["command"][-1]
    env = {item["name"]: item for item in container["env"]}
    assert env["PLATFORM_REPOSITORY"]["value"] == REPO_URL
    assert env["PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK"]["value"] == "s3-bucket/results"
    assert env["PREFECT_API_AUTH_STRING"]["valueFrom"]["secretKeyRef"]["key"] == "auth-string"
    assert env["GITHUB_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "task-workers",
        "key": "github-token",
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    objects = [deployment, *(m for m in manifests if m["metadata"]["name"] == "task-workers")]
    result = kubernetes_validate([write(tmp_path, "task-workers", objects)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_auth_rotation_rolls_the_task_workers_and_the_webhook_gateway_too() -> None:
    """They read the auth string from the Secret at start: a new `authRotation` restarts them
    (as it does the server and the workers), or they keep the old string and get 401s."""
    run = _run("local", authRotation="2026-12")
    manifests = {m["metadata"]["name"]: m for m in run.kubernetes_manifests()}
    for name in ("task-worker-orders", "webhook-gateway"):
        annotations = manifests[name]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prefect-platform/auth-rotation"] == "2026-12", name


def test_docker_runs_each_task_worker_as_a_container_with_a_health_check() -> None:
    run = _run("docker")
    (container,) = [
        c
        for c in run.of_type("docker:index/container:Container")
        if c.name == "prefect-task-worker-orders"
    ]
    assert container.inputs["command"][:2] == ["/bin/sh", "-c"]
    assert container.inputs["healthcheck"]["tests"][0] == "CMD"
    assert "envs" in container.additional_secret_outputs
    assert container.delete_before_replace


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"taskWorkers": [{"name": "x", "entrypoints": ["orders.shipped"]}]}, "file.py:task"),
        ({"taskWorkers": [{"name": "x", "entrypoints": []}]}, "at least 1 item"),
        ({"taskWorkers": [*WORKERS, *WORKERS]}, "two task workers have one name"),
    ],
    ids=["entrypoint-without-a-file", "no-entrypoint", "duplicate-name"],
)
def test_bad_task_worker_settings_stop_before_anything_is_declared(
    change: dict[str, Any], message: str
) -> None:
    run = StackRun(stack="local")
    with pytest.raises(ConfigError, match="taskWorkers") as raised:
        run_stack(
            "local",
            {**stack_config("local"), **change},
            declared_secrets(),
            run=run,
            program_main=program.main,
        )
    assert message in str(raised.value)
    assert run.resources == []


def test_task_workers_need_the_repository_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PREFECT_PLATFORM_BRANCH")
    config = {**stack_config("local"), "taskWorkers": WORKERS}
    with pytest.raises(ConfigError, match="export PREFECT_PLATFORM_BRANCH before `pulumi up`"):
        # A repository with no prefect.yaml: nothing else needs the variables.
        run_stack("local", config, program_main=lambda: program.main(tmp_path))
