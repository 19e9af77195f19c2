"""The smoke helper the PR workflow runs, against the live harness server and worker."""

from __future__ import annotations

import inspect
import textwrap
import uuid
from pathlib import Path

import pytest
from prefect import flow
from prefect.runner.storage import GitRepository

from tests.conftest import WorkerFactory
from tests.e2e.smoke import main
from tests.harness.git_remote import GitRemote
from tests.harness.live_server import LiveServer

FLOW = textwrap.dedent(
    """
    from prefect import flow, get_run_logger

    @flow
    def e2e_smoke() -> str:
        get_run_logger().info("smoke helper ran")
        return "ok"
    """
)


def test_smoke_helper_runs_a_deployment_to_completed_and_reports_it(
    prefect_server: LiveServer,
    git_remote: GitRemote,
    process_worker: WorkerFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    git_remote.push_files({"e2e_smoke.py": FLOW}, "add the e2e smoke flow")
    pool = f"e2e-{uuid.uuid4().hex[:8]}"
    source = GitRepository(url=git_remote.url, branch=git_remote.branch)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", prefect_server.auth_string)
    report = tmp_path / "smoke.md"

    with process_worker(pool):
        loaded = flow.from_source(source, "e2e_smoke.py:e2e_smoke")
        assert not inspect.isawaitable(loaded)
        loaded.deploy(
            name="helper", work_pool_name=pool, build=False, push=False, print_next_steps=False
        )
        code = main(
            [
                "--api-url",
                prefect_server.api_url,
                "--deployment",
                "e2e-smoke/helper",
                "--timeout",
                "120",
                "--report",
                str(report),
            ]
        )

    text = report.read_text()
    printed = capsys.readouterr().out
    assert code == 0, text
    assert "smoke test passed" in text and "`COMPLETED`" in text
    # The report becomes a public PR comment: the run's logs stay in the job's own output.
    assert "smoke helper ran" not in text
    assert "smoke helper ran" in printed
    password = prefect_server.auth_string.split(":", 1)[1]
    assert password not in text and password not in printed


def test_smoke_helper_fails_on_a_missing_deployment(
    prefect_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", prefect_server.auth_string)
    report = tmp_path / "smoke.md"

    code = main(
        [
            "--api-url",
            prefect_server.api_url,
            "--deployment",
            "nope/missing",
            "--report",
            str(report),
        ]
    )

    assert code == 1
    assert "smoke test FAILED" in report.read_text() and "MISSING" in report.read_text()
