"""The order the program gives Prefect objects, as the engine receives it (mocked, no API).

An automation is created after, and deleted before, the declared objects its actions name,
and depends on nothing else: a dependency on every object made each automation's
registration (and its entry in the Pulumi state) as long as the whole stack, 780 automations
x 3,300 objects at 5,000 objects (docs/performance.md, "Scale").
"""

from __future__ import annotations

import pytest

from tests.harness.mockstack import StackRun, declared_secrets, run_stack, stack_config


def program_run(monkeypatch: pytest.MonkeyPatch) -> StackRun:
    """The whole program over this repository, `local` stack, under mocks."""
    from infra import program

    monkeypatch.setenv("PREFECT_PLATFORM_REPO_URL", "https://example.invalid/flows.git")
    monkeypatch.setenv("PREFECT_PLATFORM_BRANCH", "main")
    return run_stack("local", stack_config("local"), declared_secrets(), program_main=program.main)


def depends_on(run: StackRun, name: str) -> set[str]:
    """Logical names of the Prefect objects `name` depends on.

    (Every object also depends on the server's resources, through the connection.)
    """
    urns = run.named(name).dependencies
    return {urn.rsplit("::", 1)[-1] for urn in urns if "pulumi-python:dynamic" in urn}


def test_each_automation_depends_on_exactly_the_declared_objects_it_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not on every pool, queue, deployment and block of the stack."""
    run = program_run(monkeypatch)
    # The repository's own automations/ (their actions, by file):
    assert depends_on(run, "automation-pause-backfill-on-smoke-failure") == {
        "queue-kubernetes-pool-backfill"
    }
    assert depends_on(run, "automation-pause-docker-pool-when-smokes-fail") == {"pool-docker-pool"}
    assert depends_on(run, "automation-resume-backfill-after-maintenance") == {
        "queue-kubernetes-pool-backfill",
        "deployment-smoke-smoke-process",
        "automation-pause-backfill-on-smoke-failure",
    }
    assert depends_on(run, "automation-run-smoke-on-request") == {"deployment-smoke-smoke-process"}
