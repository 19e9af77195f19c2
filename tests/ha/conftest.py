"""The HA topology of `tests/harness/ha.py`, once for the package.

It needs PostgreSQL (several server processes share one database), so it runs in the
PostgreSQL pass only (``make test-postgres``, ``PLATFORM_TEST_DATABASE_URL``); in the SQLite
pass the tests that ask for it skip, saying so.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SESSION_SECRETS
from tests.harness.ha import HaTopology, missing_packages, start_ha_topology
from tests.harness.live_server import DATABASE_URL_ENV
from tests.harness.prerequisites import unavailable

SQLITE_PASS_REASON = "the HA topology runs in the PostgreSQL pass (make test-postgres)"
"""Why the HA tests skip without `PLATFORM_TEST_DATABASE_URL`."""


@pytest.fixture(scope="package")
def ha_topology() -> Iterator[HaTopology]:
    """Two API processes, one services process, Redis and nginx on a fresh database.

    Its folder is a private temporary one (not pytest's ``tmp_path``, whose old sessions
    another pytest run may prune while this one runs), removed at the end. Its password is
    one of the session's secrets: at the end, no log below the folder may hold any of them.
    Skips in the SQLite pass. Without nginx or redis-server it skips naming the Debian
    packages to install, except under ``CI=true``, where that is a failure.
    """
    database_url = os.environ.get(DATABASE_URL_ENV)
    if not database_url:
        pytest.skip(SQLITE_PASS_REASON)
    missing = missing_packages()
    if missing:
        reason = (
            f"the HA topology needs the Debian packages {' '.join(missing)} "
            f"(apt-get install {' '.join(missing)})"
        )
        unavailable(reason)
    with tempfile.TemporaryDirectory(prefix="platform-ha-") as workdir:
        topology = start_ha_topology(Path(workdir), database_url)
        SESSION_SECRETS.append(topology.auth_string.partition(":")[2])
        try:
            yield topology
        finally:
            topology.stop()
        # The folder goes with the fixture, before the session-wide `no_secret_in_service_logs`
        # looks at the logs: look here.
        leaks = [
            str(log)
            for log in sorted(Path(workdir).rglob("*.log"))
            if any(secret in log.read_text(errors="replace") for secret in SESSION_SECRETS)
        ]
        if leaks:
            pytest.fail(f"a secret is in a log of the HA topology: {leaks}", pytrace=False)
