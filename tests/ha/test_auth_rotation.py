"""Rotating the auth string under load (docs/operations.md#rotating-the-auth-secret).

Two rotations of the HA topology's auth string, each a rolling restart of the API processes
and the services process behind the balancer (`tests/harness/ha_rotation.py`):

- the runbook's order: pause the pool, drain, stop the workers, roll the servers, start the
  workers, resume. Every run finishes once, no client gets a 401, the old string is refused
  afterwards and the new one works, the restarted worker runs what is created after;
- the naive order: roll the servers while runs execute. Deterministic (the runs end only
  after the roll): the worker exits on its first 401 and takes the flow runs it started with
  it; a run in a process of its own gets a 401 when it reports its end; each is stranded in
  Running.

The topology is the package's (`tests/ha/conftest.py`): it keeps the last new string for the
tests after these (`HaTopology.auth_string` follows the rotation).
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import SESSION_SECRETS
from tests.harness.ha import HaTopology
from tests.harness.ha_rotation import (
    DrainedRotation,
    RotationReport,
    UndrainedRotation,
    new_auth_string,
    password,
    upstream_answers,
)

RUNS = 20
"""Runs scheduled before the rotation (the runbook's order); 4 more are created after it."""


def _stopped(topology: HaTopology) -> list[str]:
    """Processes of the topology that are not running (each must be, after a rotation)."""
    return [name for name, process in topology.processes.items() if not process.running]


def _leaks(topology: HaTopology, report: RotationReport) -> list[str]:
    """Every log below the topology's folder that holds the old or the new password."""
    secrets = (password(report.old_auth), password(report.new_auth))
    return [
        str(path)
        for path in sorted(topology.workdir.rglob("*.log"))
        if any(secret in path.read_text(errors="replace") for secret in secrets)
    ]


@pytest.mark.timeout(480)
def test_drained_rotation_loses_no_run(ha_topology: HaTopology) -> None:
    """Pause, drain, roll, resume: every run Completed once, no 401, old string refused."""
    new = new_auth_string()
    SESSION_SECRETS.append(password(new))
    rotation = DrainedRotation(ha_topology, ha_topology.workdir / "rotation-drained", runs=RUNS)
    report = rotation.run(new)
    print("\n" + "\n".join(report.lines()))

    outcome = report.outcomes["runs"]
    assert _stopped(ha_topology) == []
    assert outcome.problems() == []
    assert outcome.created == RUNS + rotation.after
    # The gated runs were Running when the pool was paused: the drain had runs to wait for.
    assert report.in_flight >= rotation.gated
    # The workers were alive until stopped; no client of the topology got a 401: the workers
    # were stopped before any API process had the new string, the flow runs had ended.
    assert report.worker_exit_codes == [None] * rotation.workers
    assert report.unauthorized == []
    old_answers = upstream_answers(ha_topology, report.old_auth)
    new_answers = upstream_answers(ha_topology, report.new_auth)
    print(f"after the rotation, per API process: old string {old_answers}, new {new_answers}")
    upstreams = {f"127.0.0.1:{port}" for port in ha_topology.api_ports}
    assert old_answers == {upstream: {401} for upstream in upstreams}
    assert new_answers == {upstream: {200} for upstream in upstreams}
    assert _leaks(ha_topology, report) == []


@pytest.mark.timeout(300)
def test_undrained_rotation_strands_the_runs_in_flight(ha_topology: HaTopology) -> None:
    """Roll while runs execute: each run in flight stays Running for good, its worker exits."""
    new = new_auth_string()
    SESSION_SECRETS.append(password(new))
    rotation = UndrainedRotation(ha_topology, ha_topology.workdir / "rotation-undrained")
    report = rotation.run(new)
    print("\n" + "\n".join(report.lines()))

    assert _stopped(ha_topology) == []
    stranded = Counter({"RUNNING:Running": rotation.worker_runs})
    by_worker = report.outcomes["run by the process worker"]
    # The worker (old string) exited on its first 401, while the runs waited at the gate, and
    # killed their processes on its way out: each ran its body once and stays Running.
    assert report.worker_exit_codes == [1]
    assert report.worker_processes_after_roll == 0
    assert (by_worker.final_states, by_worker.executions) == (
        stranded,
        Counter({1: rotation.worker_runs}),
    )
    # A run in a process of its own (a Kubernetes Job) ran to its end, but reporting it got a
    # 401 (old string, new API), and so did its later calls: it stays Running too.
    as_jobs = report.outcomes["run as Jobs (flow-run execute)"]
    assert as_jobs.final_states == Counter({"RUNNING:Running": rotation.job_runs})
    assert as_jobs.executions == Counter({1: rotation.job_runs})
    assert any(entry.path.endswith("/set_state") for entry in report.unauthorized)
    assert _leaks(ha_topology, report) == []
