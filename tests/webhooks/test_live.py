"""Webhooks fire on a live server (issue 13): a signed GitHub delivery runs a deployment.

The gateway (tests/webhooks/conftest.py) serves the repository's `webhooks/github-push.yaml`
with a secret of this session and emits to the session's Prefect server. An automation made
through the client runs a deployment on `github.push` about the test's repository, with the
push's commit as a parameter; a real process worker runs it to Completed. The automation
starts mattering a few seconds after it is created (the triggers service loads it), so the
test delivers pushes, each a new commit, until one has run the deployment.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun, State

from tests.conftest import WorkerFactory
from tests.harness.api import Api, unique, wait_for
from tests.harness.live_server import LiveServer
from tests.webhooks.conftest import Gateway
from tests.webhooks.gateway import (
    deploy_on_push,
    github_headers,
    push_automation,
    push_body,
    wait_for_events,
)


def _runs(client: SyncPrefectClient, deployment_id: uuid.UUID) -> list[FlowRun]:
    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    )


def _final_state(api: Api, run_id: uuid.UUID) -> State[Any] | None:
    state = api.flow_run(run_id).state
    return state if state is not None and state.is_final() else None


def test_a_signed_github_push_runs_a_deployment_to_completed(
    gateway: Gateway, process_worker: WorkerFactory, api: Api, tmp_path: Path
) -> None:
    pool, repository = unique("webhooks"), unique("repo")
    secret = gateway.secrets["github-push"]
    with process_worker(pool):  # the worker creates its pool
        deployment_id = deploy_on_push(tmp_path, pool)
        automation_id = api.client.create_automation(push_automation(repository, deployment_id))
        try:
            commits: list[str] = []
            deadline = time.monotonic() + 60
            while not _runs(api.client, deployment_id):
                assert time.monotonic() < deadline, "no delivery ran the deployment"
                commits.append(uuid.uuid4().hex + uuid.uuid4().hex[:8])
                body = push_body(repository, after=commits[-1])
                answer = httpx.post(
                    gateway.hook("github-push"),
                    content=body,
                    headers=github_headers(secret, body),
                    timeout=30,
                )
                assert answer.status_code == 202, answer.text
                assert answer.json()["events"] == ["github.push"]
                time.sleep(2)

            (run,) = _runs(api.client, deployment_id)[:1]
            done = wait_for(lambda: _final_state(api, run.id), 90, "the triggered run to finish")
            assert done.is_completed(), done
            assert run.parameters["repository"] == f"example/{repository}"
            assert run.parameters["commit"] in commits
            api.wait_for_log(run.id, f"pushed {run.parameters['commit']} to example/{repository}")
        finally:
            api.client.delete_automation(automation_id)


def test_a_bearer_token_request_becomes_the_event_its_template_renders(
    gateway: Gateway, prefect_server: LiveServer
) -> None:
    build = unique("build")

    answer = httpx.post(
        gateway.hook("ci-token") + "?branch=release",
        json={"case": build, "status": "passed"},
        headers={"Authorization": f"Bearer {gateway.secrets['ci-token']}"},
        timeout=30,
    )

    assert answer.status_code == 202, answer.text
    (event_id,) = answer.json()["event_ids"]
    (event,) = wait_for_events(prefect_server, f"webhooks.case.{build}")
    assert event["id"] == event_id
    assert event["event"] == "webhooks.case"
    assert event["payload"] == {"status": "passed", "query": {"branch": "release"}}


def test_the_github_example_keys_the_event_by_delivery_and_names_the_pusher(
    gateway: Gateway, prefect_server: LiveServer
) -> None:
    repository = unique("repo")
    body = push_body(repository, after="a" * 40)
    headers = github_headers(gateway.secrets["github-push"], body)

    answer = httpx.post(gateway.hook("github-push"), content=body, headers=headers, timeout=30)

    assert answer.status_code == 202, answer.text
    (event,) = wait_for_events(prefect_server, f"github.repo.{repository}")
    assert event["id"] == headers["X-GitHub-Delivery"]
    assert event["resource"] == {
        "prefect.resource.id": f"github.repo.{repository}",
        "prefect.resource.name": f"example/{repository}",
    }
    assert event["related"] == [
        {"prefect.resource.id": "github.user.octocat", "prefect.resource.role": "sender"}
    ]
    assert event["payload"] == {
        "ref": "refs/heads/main",
        "before": "f" * 40,
        "after": "a" * 40,
        "pusher": "octocat",
        "commits": 1,
    }


def test_a_github_ping_is_accepted_without_an_event(gateway: Gateway) -> None:
    body = b'{"zen": "Design for failure.", "hook_id": 1}'
    headers = github_headers(gateway.secrets["github-push"], body, event="ping")

    answer = httpx.post(gateway.hook("github-push"), content=body, headers=headers, timeout=30)

    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "status": "accepted",
        "detail": "0 event(s) emitted",
        "event_ids": [],
        "events": [],
    }
