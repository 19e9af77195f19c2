"""Task workers: `prefect task serve` as a service, for background tasks (`task.delay()`).

A flow or a web app submits `my_task.delay(...)`; a task worker subscribed to that task runs it.
Each task worker of the stack setting `taskWorkers` clones the stack's repository (the URL and
branch `prefect.yaml`'s pull steps clone, `PREFECT_PLATFORM_REPO_URL` and
`PREFECT_PLATFORM_BRANCH`) when it starts and serves the listed entrypoints from it, in the
flows image. Parameters and results travel through the stack's `s3-bucket/results` block, as
the pools' runs keep theirs, so the submitter and the worker share only the API and the store.
On Kubernetes each is a Deployment (`task-worker-<name>`); on the Docker target a container.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from infra.components.object_store import RESTRICTED_CONTAINER
from infra.components.server_values import ROTATION_ANNOTATION

RESULTS_BLOCK = "s3-bucket/results"
"""Where parameters and results go (the block the program provisions with an object store)."""

_ENTRYPOINT = re.compile(r"^[^:\s]+\.py:[A-Za-z_][A-Za-z0-9_]*$")


class TaskWorkerConfig(BaseModel):
    """One entry of the stack setting `taskWorkers`."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$", description="Its name.")
    entrypoints: list[str] = Field(
        min_length=1, description="Tasks to serve, `path/in/repo.py:task_function` each."
    )
    limit: int = Field(default=10, ge=1, description="Task runs it runs at once.")
    replicas: int = Field(default=1, ge=1, description="Replicas (Kubernetes target).")

    @field_validator("entrypoints")
    @classmethod
    def _entrypoints(cls, value: list[str]) -> list[str]:
        for entrypoint in value:
            if not _ENTRYPOINT.fullmatch(entrypoint):
                raise ValueError(f"{entrypoint!r} is not `path/to/file.py:task_function`")
        return value


@dataclass(frozen=True)
class TaskSource:
    """Where task workers get the code: the repository flow runs clone."""

    repository: str
    """An https URL (no credentials in it)."""
    branch: str
    """The branch to serve."""
    token: pulumi.Input[str] | None = None
    """The `githubToken` secret, for a private repository."""


def serve_script(worker: TaskWorkerConfig) -> str:
    """The container's shell script: clone the repository into /tmp, then serve the tasks.

    Reads `PLATFORM_REPOSITORY`, `PLATFORM_BRANCH` and, when set, `GITHUB_TOKEN` (given to git
    as a header through its environment: never in the URL, the command line or a file).
    """
    entrypoints = " ".join(f"'{entrypoint}'" for entrypoint in worker.entrypoints)
    return "\n".join(
        [
            "set -eu",
            "export HOME=/tmp",
            "rm -rf /tmp/src",
            'if [ -n "${GITHUB_TOKEN:-}" ]; then',
            '  basic="$(printf "x-access-token:%s" "$GITHUB_TOKEN" | base64 | tr -d "\\n")"',
            "  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader",
            '  export GIT_CONFIG_VALUE_0="Authorization: Basic $basic"',
            "fi",
            'git clone -q --depth 1 --branch "$PLATFORM_BRANCH" "$PLATFORM_REPOSITORY" /tmp/src',
            "cd /tmp/src",
            f"exec prefect task serve --limit {worker.limit} {entrypoints}",
        ]
    )


def task_worker_env(source: TaskSource) -> dict[str, str]:
    """Settings every task worker gets besides the API's (storage as the pools' runs have it)."""
    return {
        "PLATFORM_REPOSITORY": source.repository,
        "PLATFORM_BRANCH": source.branch,
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": RESULTS_BLOCK,
        "PREFECT_TASKS_SCHEDULING_DEFAULT_STORAGE_BLOCK": RESULTS_BLOCK,
    }


@dataclass(frozen=True)
class TaskWorkersArgs:
    """Inputs of `TaskWorkers` (Kubernetes)."""

    namespace: str
    """The platform's namespace."""
    image: str
    """The flows image."""
    workers: list[TaskWorkerConfig]
    """The stack's `taskWorkers`."""
    source: TaskSource
    """The repository and branch to serve from."""
    api_url: pulumi.Input[str]
    """The server's in-cluster API URL."""
    auth_secret_name: pulumi.Input[str]
    """The Secret holding the server's `auth-string`."""
    auth_rotation: str = "1"
    """The server's `authRotation`; a new value restarts the pods on the new password."""


class TaskWorkers(pulumi.ComponentResource):
    """One Deployment per task worker, unprivileged, the auth string by Secret reference."""

    def __init__(
        self, name: str, args: TaskWorkersArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("prefect-platform:kubernetes:TaskWorkers", name, None, opts)
        needs: list[pulumi.Resource] = []
        env: list[dict[str, Any]] = [
            {"name": key, "value": value} for key, value in task_worker_env(args.source).items()
        ]
        env += [
            {"name": "PREFECT_API_URL", "value": args.api_url},
            _from_secret("PREFECT_API_AUTH_STRING", args.auth_secret_name, "auth-string"),
        ]
        if args.source.token is not None:
            needs.append(
                k8s.core.v1.Secret(
                    f"{name}-token",
                    metadata={"name": "task-workers", "namespace": args.namespace},
                    string_data={"github-token": pulumi.Output.secret(args.source.token)},
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
            env.append(_from_secret("GITHUB_TOKEN", "task-workers", "github-token"))
        for worker in args.workers:
            labels = {
                "app.kubernetes.io/name": "task-worker",
                "app.kubernetes.io/instance": worker.name,
                "app.kubernetes.io/part-of": "prefect-platform",
            }
            pod = {
                "automountServiceAccountToken": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000},
                "containers": [
                    {
                        "name": "task-worker",
                        "image": args.image,
                        "command": ["/bin/sh", "-c", serve_script(worker)],
                        "env": env,
                        "securityContext": {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True},
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            }
            k8s.apps.v1.Deployment(
                f"{name}-{worker.name}",
                metadata={
                    "name": f"task-worker-{worker.name}",
                    "namespace": args.namespace,
                    "labels": labels,
                },
                spec=cast(
                    k8s.apps.v1.DeploymentSpecArgsDict,
                    {
                        "replicas": worker.replicas,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {
                                "labels": labels,
                                "annotations": {ROTATION_ANNOTATION: args.auth_rotation},
                            },
                            "spec": pod,
                        },
                    },
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=needs),
            )
        self.register_outputs({})


def _from_secret(variable: str, secret: pulumi.Input[str], key: str) -> dict[str, Any]:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def docker_envs(
    source: TaskSource, api_url: str, auth_string: pulumi.Input[str]
) -> Mapping[str, pulumi.Input[str]]:
    """A task worker container's environment on the Docker target (stored as a secret)."""
    envs: dict[str, pulumi.Input[str]] = {
        **task_worker_env(source),
        "PREFECT_API_URL": api_url,
        "PREFECT_API_AUTH_STRING": auth_string,
    }
    if source.token is not None:
        envs["GITHUB_TOKEN"] = source.token
    return envs


DOCKER_HEALTH = [
    "CMD",
    "python",
    "-c",
    "import sys; sys.exit(b'task\\x00serve' not in open('/proc/1/cmdline', 'rb').read())",
]
"""Healthy once the clone is done and `prefect task serve` is the container's process."""
