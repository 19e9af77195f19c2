"""Running flows from outside: serve(), deploy() to a worker, prefect.yaml, schedules,
prefect.runtime, interactive pauses and basic auth; each read back through the API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
import yaml
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.deployments import run_deployment
from prefect.flow_runs import resume_flow_run

import flows
from flows.orchestration.deployment import deploy_from_git
from flows.orchestration.interactive import payout_approval
from flows.orchestration.runtime_info import runtime_report
from flows.orchestration.schedules import register
from tests.harness.api import Api, unique, wait_for
from tests.harness.git_remote import GitRemote
from tests.harness.live_server import LiveServer
from tests.harness.processes import ManagedProcess
from tests.harness.worker import running_worker

FLOWS_DIR = Path(flows.__file__).parent


@dataclass
class GitPool:
    """A pool with a live worker, the git remote holding `flows/`, and a deployment of it."""

    pool: str
    remote: GitRemote
    tree: Path
    deployment_name: str
    deployment_id: UUID


@pytest.fixture(scope="module")
def git_pool(
    prefect_server: LiveServer, git_remote: GitRemote, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GitPool]:
    """Push this repository's `flows/` to the git remote; run a worker for a fresh pool."""
    tree = tmp_path_factory.mktemp("tree")
    shutil.copytree(FLOWS_DIR, tree / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    git_remote.push_tree(tree, "flows under test")
    pool = unique("flows-pool")
    name = unique("runtime")
    with running_worker(prefect_server, pool, tmp_path_factory.mktemp("worker")):
        deployment_id = deploy_from_git(git_remote.url, "main", pool, name=name)
        yield GitPool(pool, git_remote, tree, name, deployment_id)


def _completed(run: FlowRun) -> bool:
    return run.state is not None and run.state.is_completed()


def test_flow_deploy_to_a_work_pool_is_run_by_the_worker(api: Api, git_pool: GitPool) -> None:
    # git_pool deployed flows/orchestration/runtime_info.py from the git remote with
    # flows.orchestration.deployment.deploy_from_git (flow.from_source(...).deploy(...)).
    name, deployment_id = git_pool.deployment_name, git_pool.deployment_id

    # run_deployment is sync_compatible: called from sync code it returns the FlowRun itself.
    run = cast(FlowRun, run_deployment(deployment_id, timeout=120))

    assert _completed(run), run.state
    stored = api.flow_run(run.id)
    assert stored.work_pool_name == git_pool.pool
    deployment = api.client.read_deployment(deployment_id)
    assert deployment.work_pool_name == git_pool.pool
    assert deployment.pull_steps and "git_clone" in str(deployment.pull_steps[0])
    assert git_pool.remote.url in str(deployment.pull_steps[0])
    api.wait_for_log(run.id, f"deployment={name} started_by=deployment label=deployed")


def test_runtime_tells_a_flow_how_it_was_started(api: Api, git_pool: GitPool) -> None:
    name, deployment_id = git_pool.deployment_name, git_pool.deployment_id
    run = cast(
        FlowRun, run_deployment(deployment_id, parameters={"label": "from-test"}, timeout=120)
    )
    adhoc = runtime_report(label="adhoc", return_state=True)

    assert _completed(run), run.state
    api.wait_for_log(
        run.id, f"runtime: run={run.name} deployment={name} started_by=deployment label=from-test"
    )
    adhoc_id = cast(UUID, adhoc.state_details.flow_run_id)  # set on every run's state
    adhoc_name = api.flow_run(adhoc_id).name
    api.wait_for_log(
        adhoc_id, f"runtime: run={adhoc_name} deployment=None started_by=ad-hoc label=adhoc"
    )


def test_prefect_yaml_deployment_is_applied_and_run_from_git(
    api: Api, git_pool: GitPool, prefect_server: LiveServer, tmp_path: Path
) -> None:
    name = unique("smoke-yaml")
    manifest = {
        "name": "flows-under-test",
        "prefect-version": "3.9.1",
        "pull": [
            {
                "prefect.deployments.steps.git_clone": {
                    "repository": "{{ $FLOWS_TEST_REPO_URL }}",
                    "branch": "main",
                }
            }
        ],
        "deployments": [
            {
                "name": name,
                "entrypoint": "flows/platform/smoke.py:smoke",
                "parameters": {"name": "yaml"},
                "tags": ["prefect-yaml"],
                "work_pool": {"name": git_pool.pool},
            }
        ],
    }
    project = tmp_path / "project"  # the pushed tree plus a prefect.yaml, as a user has it
    shutil.copytree(git_pool.tree, project)
    (project / "prefect.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    env = {
        **os.environ,
        **prefect_server.client_env(tmp_path / "cli-home"),
        "FLOWS_TEST_REPO_URL": git_pool.remote.url,
    }
    deploy = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--name", name],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr

    deployment = api.client.read_deployment_by_name(f"smoke/{name}")
    assert deployment.tags == ["prefect-yaml"]
    assert git_pool.remote.url in str(deployment.pull_steps)
    run = cast(FlowRun, run_deployment(deployment.id, timeout=120))
    assert _completed(run), run.state
    api.wait_for_log(run.id, "smoke says: hello yaml")


def test_serve_runs_its_scheduled_runs(
    api: Api, prefect_server: LiveServer, tmp_path: Path
) -> None:
    name = unique("served")
    env = {
        **os.environ,
        **prefect_server.client_env(tmp_path / "serve-home"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    process = ManagedProcess(
        "serve",
        [sys.executable, "-m", "flows.orchestration.serving", "--name", name, "--interval", "10"],
        env=env,
        log_path=tmp_path / "serve.log",
        cwd=tmp_path,
    )
    started = time.monotonic()
    try:
        deployment = wait_for(
            lambda: _deployment_or_none(api, f"heartbeat/{name}"), 60, "the served deployment"
        )
        registered = time.monotonic()
        interval = deployment.schedules[0].schedule.interval  # type: ignore[union-attr]
        assert interval.total_seconds() == 10
        run = wait_for(lambda: _completed_run(api, deployment.id), 90, "a completed scheduled run")
        # Logs are flushed by the run's own process: read them before stopping serve().
        api.wait_for_log(run.id, f"heartbeat from serve/{name}")
    finally:
        process.stop()
    assert run.auto_scheduled  # created by the server's scheduler, not by this test
    print(
        f"serve: registered after {registered - started:.1f}s, run done after "
        f"{time.monotonic() - registered:.1f}s"
    )


def _deployment_or_none(api: Api, name: str) -> DeploymentResponse | None:
    try:
        return api.client.read_deployment_by_name(name)
    except Exception:
        return None


def _completed_run(api: Api, deployment_id: UUID) -> FlowRun | None:
    runs = api.client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED]))
        ),
    )
    return runs[0] if runs else None


def test_cron_interval_and_rrule_schedules_create_runs_at_their_times(api: Api) -> None:
    deployment_id = UUID(register(unique("calendar")))

    deployment = api.client.read_deployment(deployment_id)
    kinds = {s.slug: type(s.schedule).__name__ for s in deployment.schedules}
    assert kinds == {
        "daily-oslo": "CronSchedule",
        "six-hourly": "IntervalSchedule",
        "mon-wed-fri": "RRuleSchedule",
    }
    slug_by_id = {str(s.id): s.slug for s in deployment.schedules}

    def runs_by_schedule() -> dict[str | None, list[datetime]] | None:
        runs = api.client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            limit=200,
        )
        found: dict[str | None, list[datetime]] = {}
        for run in runs:
            schedule_id = (run.idempotency_key or "").split(" ")[2:3]
            if schedule_id and run.expected_start_time:
                found.setdefault(slug_by_id[schedule_id[0]], []).append(run.expected_start_time)
        return found if len(found) == 3 else None

    found = wait_for(runs_by_schedule, 60, "scheduled runs from all three schedules")
    oslo = ZoneInfo("Europe/Oslo")
    assert all(t.astimezone(oslo).strftime("%H:%M") == "06:00" for t in found["daily-oslo"])
    assert all(t.hour % 6 == 0 and t.minute == 0 for t in found["six-hourly"])
    assert all(
        t.weekday() in (0, 2, 4) and (t.hour, t.minute) == (7, 30) for t in found["mon-wed-fri"]
    )
    assert all(len(times) >= 3 for times in found.values())


def test_paused_run_resumes_with_typed_input_and_refuses_bad_input(api: Api) -> None:
    amount = int(time.time() * 1000) % 100_000
    outcome: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: outcome.update(state=payout_approval(amount, 120, return_state=True)),
        daemon=True,
    )
    thread.start()

    def paused_run() -> FlowRun | None:
        runs = api.client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["payout-approval"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
            ),
        )
        return next((run for run in runs if run.parameters.get("amount") == amount), None)

    run = wait_for(paused_run, 60, "the flow run to pause")
    with pytest.raises(RuntimeError, match="Cannot resume this run"):
        resume_flow_run(run.id, run_input={"approved": "maybe", "reviewer": "a"})
    assert api.flow_run(run.id).state.is_paused()  # type: ignore[union-attr]

    resume_flow_run(run.id, run_input={"approved": True, "reviewer": "alice"})
    thread.join(60)

    assert not thread.is_alive()
    final = api.flow_run(run.id)
    assert final.state is not None and final.state.is_completed()
    assert outcome["state"].result() == "paid by alice"
    api.wait_for_log(run.id, "payout paid by alice")


RUN_SMOKE = "import sys; from flows.platform.smoke import smoke; print(smoke(sys.argv[1]))"


def test_basic_auth_refuses_a_client_without_the_auth_string(
    api: Api, prefect_server: LiveServer, tmp_path: Path
) -> None:
    name = unique("auth")
    good_env = {**os.environ, **prefect_server.client_env(tmp_path / "home")}
    no_auth_env = {k: v for k, v in good_env.items() if k != "PREFECT_API_AUTH_STRING"}

    refused = subprocess.run(
        [sys.executable, "-c", RUN_SMOKE, f"{name}-refused"],
        env=no_auth_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    accepted = subprocess.run(
        [sys.executable, "-c", RUN_SMOKE, name],
        env=good_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert refused.returncode != 0
    assert "401" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr
    runs = api.client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["smoke"])))
    names = [run.parameters.get("name") for run in runs]
    assert name in names and f"{name}-refused" not in names
    [run] = [run for run in runs if run.parameters.get("name") == name]
    api.wait_for_log(run.id, f"smoke says: hello {name}")
