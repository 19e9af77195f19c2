"""Session-wide live services for every test; see docs/testing.md.

Fixtures:
    prefect_server: a real Prefect server with basic auth; this process's Prefect
        client is pointed at it for the whole session.
    s3_server: a real S3 server (SeaweedFS) with a bucket.
    git_remote: a bare git repository with HEAD on main.
    process_worker: a factory that runs a real process worker for a pool.
    api: read-back helpers (task runs, state histories, logs, events) over the server's API.
    https_git_server: `git_remote` served over HTTPS with token auth (nginx + git http-backend).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.harness.api import Api
from tests.harness.git_https import HttpsGitServer, missing_packages, start_https_git_server
from tests.harness.git_remote import GitRemote, create_git_remote
from tests.harness.live_server import DATABASE_URL_ENV, LiveServer, start_prefect_server
from tests.harness.prerequisites import unavailable
from tests.harness.processes import STARTED, ManagedProcess, environment
from tests.harness.s3 import S3Server, start_s3_server
from tests.harness.worker import running_worker

WorkerFactory = Callable[..., AbstractContextManager[ManagedProcess]]


@pytest.fixture(scope="session")
def harness_dir() -> Iterator[Path]:
    """One temporary folder for every service's data and logs in this session."""
    with tempfile.TemporaryDirectory(prefix="platform-tests-") as path:
        yield Path(path)


SESSION_SECRETS: list[str] = []
"""Secret values the session's services hold (the server's password, the S3 secret key, the git
token): no service's log may contain one (`no_secret_in_service_logs`)."""


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_service_logs(harness_dir: Path) -> Iterator[None]:
    """After every test: the log of every process the harness started (servers, workers, flow
    runs, nginx, the gateway) holds none of `SESSION_SECRETS`. Fails the session otherwise."""
    yield
    leaks = []
    for process in STARTED:
        if not process.log_path.exists():
            continue
        text = process.log_path.read_text(errors="replace")
        found = [secret for secret in SESSION_SECRETS if secret in text]
        if found:
            leaks.append(f"{process.name} ({process.log_path}): {len(found)} secret(s)")
    if leaks:
        pytest.fail("a secret is in a service log:\n" + "\n".join(leaks), pytrace=False)


@pytest.fixture(scope="session")
def prefect_server(harness_dir: Path) -> Iterator[LiveServer]:
    """A live Prefect server; the in-process client talks to it with the auth string."""
    server = start_prefect_server(harness_dir / "server", os.environ.get(DATABASE_URL_ENV))
    SESSION_SECRETS.append(server.auth_string.partition(":")[2])
    try:
        with environment(server.client_env()):
            _refresh_prefect_settings()
            yield server
    finally:
        _flush_prefect_logs()
        _refresh_prefect_settings()
        server.stop()


def _flush_prefect_logs() -> None:
    """Send logs still queued for the API before the server goes away."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)


def _refresh_prefect_settings() -> None:
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()


@pytest.fixture
def api(prefect_server: LiveServer) -> Iterator[Api]:
    """Read-back helpers over the live server's API (`tests/harness/api.py`)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        yield Api(client)


@pytest.fixture(scope="session")
def s3_server(harness_dir: Path) -> Iterator[S3Server]:
    """A live S3 server with one bucket (`s3_server.bucket`)."""
    server = start_s3_server(harness_dir / "s3")
    SESSION_SECRETS.append(server.secret_key)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def git_remote(harness_dir: Path) -> GitRemote:
    """A bare git repository (HEAD on main) that deployments can clone."""
    return create_git_remote(harness_dir / "git")


@pytest.fixture
def process_worker(prefect_server: LiveServer, tmp_path: Path) -> WorkerFactory:
    """Start a real process worker: ``with process_worker("pool-name"): ...``."""

    def start(pool: str, worker_type: str = "process") -> AbstractContextManager[ManagedProcess]:
        return running_worker(prefect_server, pool, tmp_path, worker_type)

    return start


_first_process_of_test = pytest.StashKey[int]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember which processes existed before this test."""
    item.stash[_first_process_of_test] = len(STARTED)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure, attach the log tail of every service still running or started by the test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed:
        first = item.stash.get(_first_process_of_test, len(STARTED))
        for index, process in enumerate(STARTED):
            if process.running or index >= first:
                report.sections.append((f"log of {process.name}", process.log_tail()))


@pytest.fixture(scope="session")
def chart_reference() -> Path:
    """The pinned prefect-helm chart archives (`tests/harness/helm_render.py`); skip (fail
    under CI=true) when they are not there."""
    from tests.harness.helm_render import missing_archives, reference_dir

    missing = missing_archives()
    if missing:
        unavailable(
            f"pinned prefect-helm chart archives not found: {', '.join(map(str, missing))} "
            f"(set PREFECT_HELM_REFERENCE to a folder with charts/<chart>-<version>.tgz)"
        )
    return reference_dir()


@pytest.fixture(scope="session")
def https_git_server(
    git_remote: GitRemote, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HttpsGitServer]:
    """`git_remote` served over HTTPS with token auth, as GitHub serves a private repository.

    Needs the Debian packages nginx and fcgiwrap (and git's ``git-http-backend``): without
    them the tests that ask for this fixture skip, saying which to install, except under
    ``CI=true``, where they fail.
    """
    missing = missing_packages()
    if missing:
        reason = (
            "the HTTPS git server needs the Debian packages "
            f"{' '.join(missing)} (apt-get install {' '.join(missing)})"
        )
        print(f"skipped: {reason}")
        unavailable(reason)
    server = start_https_git_server(tmp_path_factory.mktemp("git-https"), git_remote)
    SESSION_SECRETS.append(server.token)
    try:
        yield server
    finally:
        server.stop()
