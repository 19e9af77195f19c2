"""Fixtures for the GitOps tests: the repository pushed to a git remote playing GitHub.

`platform` is the loop a user runs: a checkout of this repository (prefect.yaml,
pools/, flows/) pushed to a harness git remote, and the real Pulumi program
(`external` target, `tests/harness/engine.py`: only the engine is stood in for)
applying it, with ``PREFECT_PLATFORM_REPO_URL``/``PREFECT_PLATFORM_BRANCH`` pointing
at that remote, to a Prefect server of this module, with the harness's S3 server as the
stack's object store (the pools' env names its `s3-bucket/results` block: runs keep results).
A server of its own keeps the pool and deployment names of prefect.yaml clear of
other tests' objects.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.engine import ForwardingMocks, Operations, apply_program, destroy, external_stack
from tests.harness.git_remote import GitRemote, create_git_remote
from tests.harness.live_server import DATABASE_URL_ENV, LiveServer, start_prefect_server
from tests.harness.mockstack import copy_repo_files
from tests.harness.s3 import S3Server

#: What a checkout needs for the deployments: the file, the pools it names, the flows.
CHECKOUT = ("prefect.yaml", "pools", "flows")


@dataclass
class Platform:
    """A checkout, its remote, the live server and the stack applied to it."""

    tree: Path
    remote: GitRemote
    server: LiveServer
    mocks: ForwardingMocks
    github_token: str
    api: httpx.Client
    s3: S3Server

    def apply(self, root: Path | None = None) -> Operations:
        """`pulumi up` of the program over the checkout (or another tree)."""
        config, secrets = external_stack(self.server, self.s3, githubToken=self.github_token)
        return apply_program(self.mocks, config, secrets, root or self.tree)

    def destroy(self) -> Operations:
        """`pulumi destroy` of the stack."""
        return destroy(self.mocks)

    def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """One API request, retried while the server answers 503 (SQLite busy under load)."""
        for _ in range(20):
            response = self.api.request(method, path, json=json)
            if response.status_code not in (429, 503):
                break
            time.sleep(0.5)
        if response.status_code != 404:
            response.raise_for_status()
        return response

    def deployment(self, reference: str) -> dict[str, Any] | None:
        """The deployment ``flow/name`` as the API returns it (None if absent)."""
        response = self.call("GET", f"/deployments/name/{reference}")
        return None if response.status_code == 404 else dict(response.json())

    def run(
        self, reference: str, parameters: dict[str, Any] | None = None, timeout: float = 150
    ) -> dict[str, Any]:
        """Create a run of ``flow/name`` and wait until it is final; return the run."""
        deployment = self.deployment(reference)
        assert deployment is not None, f"no deployment {reference}"
        created = self.call(
            "POST",
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": parameters or {}},
        )
        run_id = created.json()["id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = dict(self.call("GET", f"/flow_runs/{run_id}").json())
            if run["state"] and run["state"]["type"] in {
                "COMPLETED",
                "FAILED",
                "CRASHED",
                "CANCELLED",
            }:
                return run
            time.sleep(0.3)
        raise TimeoutError(f"run {run_id} of {reference} not final after {timeout:.0f} s")

    def logs(self, run_id: str, expect: str, timeout: float = 20) -> list[str]:
        """The run's log messages, waiting until one contains `expect` (logs arrive late)."""
        deadline = time.monotonic() + timeout
        messages: list[str] = []
        while time.monotonic() < deadline:
            body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "sort": "TIMESTAMP_ASC"}
            logs = self.call("POST", "/logs/filter", json=body).json()
            messages = [log["message"] for log in logs]
            if any(expect in message for message in messages):
                break
            time.sleep(0.3)
        return messages


@pytest.fixture(scope="module")
def gitops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A Prefect server for this module's stack."""
    server = start_prefect_server(
        tmp_path_factory.mktemp("gitops-server"), os.environ.get(DATABASE_URL_ENV)
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def platform(
    gitops_server: LiveServer, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """The repository pushed to a git remote and applied once; destroyed at the end."""
    workdir = tmp_path_factory.mktemp("gitops")
    tree = copy_repo_files(workdir / "checkout", CHECKOUT)
    remote = create_git_remote(workdir / "github", name="prefect-platform")
    remote.push_tree(tree, "the platform repository")
    with (
        pytest.MonkeyPatch.context() as env,
        httpx.Client(base_url=gitops_server.api_url, auth=gitops_server.auth, timeout=30) as api,
    ):
        env.setenv("PREFECT_PLATFORM_REPO_URL", remote.url)
        env.setenv("PREFECT_PLATFORM_BRANCH", remote.branch)
        env.setenv("PREFECT_PLATFORM_CACHE_DIR", str(workdir / "template-cache"))
        platform = Platform(
            tree=tree,
            remote=remote,
            server=gitops_server,
            mocks=ForwardingMocks(),
            github_token=f"ghp_test_{secrets.token_hex(16)}",
            api=api,
            s3=s3_server,
        )
        platform.apply()
        try:
            yield platform
        finally:
            platform.destroy()
