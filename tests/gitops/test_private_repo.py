"""A private repository over HTTPS: the token path every private GitHub repository uses.

Prefect's ``git_clone`` pull step puts ``access_token`` into ``https`` URLs only, so
this serves the harness's git remote over HTTPS with basic auth (`https_git_server`:
nginx + ``git http-backend``, a throwaway CA the worker trusts by ``GIT_SSL_CAINFO``)
and runs deployments whose pull step is the one prefect.yaml uses:

    - prefect.deployments.steps.git_clone:
        repository: https://127.0.0.1:PORT/flows.git
        branch: main
        access_token: "{{ prefect.blocks.secret.<name> }}"

One real process worker runs five deployments at once (one module fixture: the suite
pays for one worker and one round of flow-run start-ups): the right token with the
pool's default command (as prefect.yaml's smoke-process runs); a wrong token, no
token and a Secret block that does not exist with the job variable
``command: python -m prefect.engine`` (one process per run, whose load error reaches
the run's logs); and the wrong token with the default command again. The worker and
its flow runs log at DEBUG, the level at which Prefect logs git's own error output.

What a user sees when the clone fails (Prefect 3.9): the run is Crashed. With the
default command its state message is only "Process exited with status code: 1..."
and the reason (git's error, credentials stripped) is in the worker's output; with
the engine command the reason is also in the run's logs in the UI/API.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.blocks.system import Secret
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.client.schemas.sorting import LogSort

from tests.harness.git_https import HttpsGitServer
from tests.harness.live_server import LiveServer
from tests.harness.processes import ManagedProcess

FLOW_FILE = "private_repo_flow.py"
FLOW_NAME = "private-repo-hello"
TOKEN_BLOCK = "private-repo-token"
WRONG_TOKEN_BLOCK = "private-repo-wrong-token"
MISSING_BLOCK = "private-repo-token-never-created"
ENGINE_COMMAND = f"{sys.executable} -m prefect.engine"


@dataclass(frozen=True)
class Case:
    """One deployment: the Secret block its pull step names (None: no token), its job variables."""

    block: str | None
    job_variables: dict[str, Any] = field(default_factory=dict)


ENGINE = {"command": ENGINE_COMMAND}
"""One process per flow run, whose load errors reach the run's logs (docs/gitops.md)."""

CASES: dict[str, Case] = {
    "right-token": Case(TOKEN_BLOCK),
    "wrong-token": Case(WRONG_TOKEN_BLOCK, ENGINE),
    "no-token": Case(None, ENGINE),
    "missing-block": Case(MISSING_BLOCK, ENGINE),
    "wrong-token-default-command": Case(WRONG_TOKEN_BLOCK),
}
LOAD_ERROR = "Unexpected exception encountered when trying to load flow"

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@dataclass
class PrivateRuns:
    """What the runs left behind, read back through the API after the worker stopped."""

    server: HttpsGitServer
    marker: str
    wrong_token: str
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    logs: dict[str, list[str]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    worker_log: str = ""

    def state(self, name: str) -> dict[str, Any]:
        """The final state of the run of deployment `name`."""
        return dict(self.runs[name]["state"])

    def everything_recorded(self) -> dict[str, str]:
        """Every place a token could leak to, as text: logs, states, runs, events, deployments."""
        recorded = {"worker log (worker and flow-run process output)": self.worker_log}
        for name in CASES:
            recorded[f"flow run logs of {name}"] = "\n".join(self.logs[name])
            recorded[f"state history of {name}"] = repr(self.states[name])
            recorded[f"flow run {name}"] = repr(self.runs[name])
            recorded[f"events of {name}"] = repr(self.events[name])
            recorded[f"deployment {name}"] = repr(self.deployments[name])
        return recorded


def flow_source(marker: str) -> str:
    """A flow that can only have come from the clone: it logs this session's marker."""
    return textwrap.dedent(
        f"""
        from prefect import flow, get_run_logger

        @flow(name="{FLOW_NAME}")
        def private_hello() -> str:
            get_run_logger().info("cloned over https: {marker}")
            return "{marker}"
        """
    )


@contextmanager
def worker_with_env(
    server: LiveServer, pool: str, workdir: Path, extra_env: dict[str, str]
) -> Iterator[ManagedProcess]:
    """`prefect worker start` for a process pool, with extra environment as a user sets it.

    Like `tests.harness.worker.running_worker`, whose environment cannot be extended
    past ``PREFECT_LOGGING_LEVEL``.
    """
    env = {
        **os.environ,
        **server.client_env(workdir / "worker-home"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
        **extra_env,
    }
    log = workdir / f"worker-{pool}.log"
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    argv += ["--type", "process", "--name", f"test-worker-{pool}"]
    process = ManagedProcess(
        f"worker[{pool}]", argv, env=env, log_path=log, cwd=workdir, stop_signal=signal.SIGINT
    )
    try:
        process.wait_until(lambda: "started" in log.read_text().lower(), 60, "worker start-up")
        yield process
    finally:
        process.stop()


def pull_step(server: HttpsGitServer, block: str | None) -> dict[str, Any]:
    """prefect.yaml's pull step, pointed at the HTTPS server (no token when `block` is None)."""
    clone: dict[str, Any] = {"repository": server.url, "branch": server.remote.branch}
    if block is not None:
        clone["access_token"] = f"{{{{ prefect.blocks.secret.{block} }}}}"
    return {"prefect.deployments.steps.git_clone": clone}


def _wait_until_final(client: SyncPrefectClient, run_ids: dict[str, uuid.UUID]) -> None:
    deadline = time.monotonic() + 180
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        runs = {name: client.read_flow_run(run_id) for name, run_id in run_ids.items()}
        states = {name: run.state.type.value if run.state else "" for name, run in runs.items()}
        if set(states.values()) <= FINAL:
            return
        time.sleep(0.5)
    raise TimeoutError(f"runs not final after 180 s: {states}")


def _read_logs(client: SyncPrefectClient, run_id: uuid.UUID) -> list[str]:
    logs = client.read_logs(
        log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])),
        sort=LogSort.TIMESTAMP_ASC,
    )
    return [log.message for log in logs]


def _read_events(api: httpx.Client, run_id: uuid.UUID) -> list[dict[str, Any]]:
    body = {
        "filter": {
            "any_resource": {"id": [f"prefect.flow-run.{run_id}"]},
            "occurred": {"since": "2000-01-01T00:00:00Z"},
        },
        "limit": 50,
    }
    return list(api.post("/events/filter", json=body).raise_for_status().json()["events"])


@pytest.fixture(scope="module")
def private_runs(
    prefect_server: LiveServer,
    https_git_server: HttpsGitServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> PrivateRuns:
    """Push the flow, save the Secret blocks, deploy every case, run them all on one worker."""
    marker = f"marker-{uuid.uuid4().hex}"
    https_git_server.remote.push_files({FLOW_FILE: flow_source(marker)}, "private flow")
    wrong_token = f"ghp_{secrets.token_hex(18)}"
    Secret(value=https_git_server.token).save(TOKEN_BLOCK, overwrite=True)
    Secret(value=wrong_token).save(WRONG_TOKEN_BLOCK, overwrite=True)
    result = PrivateRuns(server=https_git_server, marker=marker, wrong_token=wrong_token)

    pool = f"private-repo-{uuid.uuid4().hex[:8]}"
    worker_env = {
        **https_git_server.client_env(),  # GIT_SSL_CAINFO: trust the session's CA
        "GIT_TERMINAL_PROMPT": "0",  # a missing credential fails at once, never prompts
        "PREFECT_LOGGING_LEVEL": "DEBUG",  # Prefect logs git's stderr at DEBUG
    }
    workdir = tmp_path_factory.mktemp("private-repo-worker")
    run_ids: dict[str, uuid.UUID] = {}
    deployment_ids: dict[str, uuid.UUID] = {}
    with (
        worker_with_env(prefect_server, pool, workdir, worker_env) as worker,
        get_client(sync_client=True) as client,
    ):
        flow_id = client.create_flow_from_name(FLOW_NAME)
        for name, case in CASES.items():
            deployment_ids[name] = client.create_deployment(
                flow_id=flow_id,
                name=name,
                entrypoint=f"{FLOW_FILE}:private_hello",
                work_pool_name=pool,
                pull_steps=[pull_step(https_git_server, case.block)],
                job_variables=case.job_variables,
            )
            run_ids[name] = client.create_flow_run_from_deployment(deployment_ids[name]).id
        _wait_until_final(client, run_ids)
        deadline = time.monotonic() + 20  # logs reach the API a moment after the run ends
        expected = {name: LOAD_ERROR for name, case in CASES.items() if case.job_variables}
        expected["right-token"] = marker
        while time.monotonic() < deadline:
            result.logs = {name: _read_logs(client, run_id) for name, run_id in run_ids.items()}
            if all(text in "\n".join(result.logs[name]) for name, text in expected.items()):
                break
            time.sleep(0.5)

    with httpx.Client(base_url=prefect_server.api_url, auth=prefect_server.auth) as api:
        for name, run_id in run_ids.items():
            result.runs[name] = api.get(f"/flow_runs/{run_id}").raise_for_status().json()
            states = api.get("/flow_run_states/", params={"flow_run_id": str(run_id)})
            result.states[name] = states.raise_for_status().json()
            result.events[name] = _read_events(api, run_id)
            deployment = api.get(f"/deployments/{deployment_ids[name]}")
            result.deployments[name] = deployment.raise_for_status().json()
    result.worker_log = worker.log_path.read_text(errors="replace")  # complete: worker stopped
    return result


def test_the_server_answers_only_the_token_prefect_sends(
    https_git_server: HttpsGitServer,
) -> None:
    url = f"{https_git_server.url}/info/refs?service=git-upload-pack"
    trust = https_git_server.ssl_context()

    anonymous = httpx.get(url, verify=trust)
    wrong = httpx.get(url, verify=trust, auth=("ghp_not-the-token", ""))
    as_password = httpx.get(url, verify=trust, auth=("x-access-token", https_git_server.token))
    right = httpx.get(url, verify=trust, auth=(https_git_server.token, ""))

    assert anonymous.status_code == wrong.status_code == as_password.status_code == 401
    assert right.status_code == 200
    assert right.headers["content-type"] == "application/x-git-upload-pack-advertisement"


def test_a_token_from_a_secret_block_clones_over_https_and_the_run_completes(
    private_runs: PrivateRuns,
) -> None:
    state = private_runs.state("right-token")
    messages = private_runs.logs["right-token"]

    assert state["type"] == "COMPLETED", state
    assert f"cloned over https: {private_runs.marker}" in messages
    assert "Deployment step 'git_clone' completed successfully" in messages


def test_a_wrong_token_crashes_the_run_whose_logs_say_git_was_refused(
    private_runs: PrivateRuns,
) -> None:
    state = private_runs.state("wrong-token")
    logs = "\n".join(private_runs.logs["wrong-token"])

    assert state["type"] == "CRASHED", state
    assert LOAD_ERROR in logs
    assert f"Failed to clone repository '{private_runs.server.url}' with exit code 128" in logs
    # git asks for the password that goes with the token: the server refused the token.
    assert f"could not read Password for '{private_runs.server.base_url}'" in logs


def test_no_token_crashes_the_run_whose_logs_say_git_needs_a_username(
    private_runs: PrivateRuns,
) -> None:
    state = private_runs.state("no-token")
    logs = "\n".join(private_runs.logs["no-token"])

    assert state["type"] == "CRASHED", state
    assert f"Failed to clone repository '{private_runs.server.url}' with exit code 128" in logs
    assert f"could not read Username for '{private_runs.server.base_url}'" in logs


def test_a_missing_secret_block_crashes_the_run_whose_logs_name_the_block(
    private_runs: PrivateRuns,
) -> None:
    state = private_runs.state("missing-block")
    logs = "\n".join(private_runs.logs["missing-block"])

    assert state["type"] == "CRASHED", state
    assert f"Block not found: '{MISSING_BLOCK}' of type 'secret'" in logs


def test_with_the_default_command_the_reason_is_only_in_the_worker_output(
    private_runs: PrivateRuns,
) -> None:
    """Prefect 3.9's default process command reports a pull-step failure this way."""
    state = private_runs.state("wrong-token-default-command")
    logs = "\n".join(private_runs.logs["wrong-token-default-command"])

    assert state["type"] == "CRASHED", state
    assert "Process exited with status code: 1" in (state["message"] or "")
    assert "Executing deployment step: git_clone" in logs
    assert "Failed to clone repository" not in logs
    assert f"RuntimeError: Failed to clone repository '{private_runs.server.url}'" in (
        private_runs.worker_log
    )


def test_no_token_is_in_any_log_state_run_event_or_deployment(private_runs: PrivateRuns) -> None:
    recorded = private_runs.everything_recorded()
    assert private_runs.marker in recorded["worker log (worker and flow-run process output)"]
    assert any(private_runs.events.values()), "no events were read back"

    for token in (private_runs.server.token, private_runs.wrong_token):
        leaks = [where for where, text in recorded.items() if token in text]
        assert leaks == [], f"a token is in: {leaks}"


def test_deployments_keep_the_block_reference_not_its_value(private_runs: PrivateRuns) -> None:
    for name, deployment in private_runs.deployments.items():
        (step,) = deployment["pull_steps"]
        clone = step["prefect.deployments.steps.git_clone"]
        block = CASES[name].block
        expected = None if block is None else f"{{{{ prefect.blocks.secret.{block} }}}}"
        assert clone.get("access_token") == expected, name
        assert clone["repository"] == private_runs.server.url
