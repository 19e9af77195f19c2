"""A wrong password is refused by a PostgreSQL that checks passwords, and the run says so.

The machine's PostgreSQL trusts local clients, so this starts a private PostgreSQL cluster
(the installed `initdb` and `postgres`, run as the `postgres` user, on a free loopback port)
that requires SCRAM passwords. A connector block with the right password completes the flow;
one with a wrong password fails it naming the block, and neither password is in its logs.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect_sqlalchemy import (  # type: ignore[import-untyped]
    ConnectionComponents,
    SqlAlchemyConnector,
    SyncDriver,
)
from pydantic import SecretStr

from flows.integrations.sql import warehouse_roundtrip
from tests.harness.api import Api, unique
from tests.harness.prerequisites import unavailable
from tests.harness.processes import ManagedProcess, free_port


@dataclass(frozen=True)
class PasswordServer:
    """A PostgreSQL cluster that refuses wrong passwords."""

    port: int
    user: str
    password: str


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="module")
def password_server() -> Iterator[PasswordServer]:
    """initdb with `--auth=scram-sha-256` into a temporary folder; stopped and removed after."""
    initdb, postgres = _binary("initdb"), _binary("postgres")
    runuser = shutil.which("runuser")
    if not (initdb and postgres and runuser) or os.geteuid() != 0:
        reason = "a private PostgreSQL needs initdb, postgres and runuser, as root"
        unavailable(reason)
    # Outside pytest's root-only temporary folders: the `postgres` user must reach it.
    base = Path(tempfile.mkdtemp(prefix="platform-password-postgres-"))
    data, password = base / "data", f"pg-{secrets.token_hex(12)}"
    (base / "pwfile").write_text(password)
    shutil.chown(base, "postgres")
    shutil.chown(base / "pwfile", "postgres")
    initialised = subprocess.run(
        [
            runuser,
            "-u",
            "postgres",
            "--",
            initdb,
            "-D",
            str(data),
            "-U",
            "warehouse",
            "--auth=scram-sha-256",
            f"--pwfile={base / 'pwfile'}",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert initialised.returncode == 0, initialised.stdout + initialised.stderr
    port = free_port()
    process = ManagedProcess(
        "password-postgres",
        [
            runuser,
            "-u",
            "postgres",
            "--",
            postgres,
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(base),
            "-c",
            "listen_addresses=127.0.0.1",
        ],
        env={"PATH": os.environ["PATH"]},
        log_path=base / "postgres.log",
        stop_signal=signal.SIGINT,
    )
    try:
        process.wait_until(
            lambda: "ready to accept connections" in (base / "postgres.log").read_text(),
            60,
            "PostgreSQL",
        )
        yield PasswordServer(port=port, user="warehouse", password=password)
    finally:
        process.stop()
        shutil.rmtree(base, ignore_errors=True)


def _block(server: PasswordServer, password: str) -> str:
    name = unique("scram")
    components = ConnectionComponents(
        driver=SyncDriver.POSTGRESQL_PSYCOPG2,
        host="127.0.0.1",
        port=server.port,
        username=server.user,
        password=SecretStr(password),
        database="postgres",
    )
    SqlAlchemyConnector(connection_info=components).save(name)
    return name


def test_the_right_password_connects_and_a_wrong_one_fails_naming_the_block(
    api: Api, password_server: PasswordServer
) -> None:
    good = warehouse_roundtrip(
        block_name=_block(password_server, password_server.password),
        table="scram_readings",
        return_state=True,
    )
    assert good.is_completed(), good

    wrong = f"wrong-{secrets.token_hex(8)}"
    block = _block(password_server, wrong)
    state = warehouse_roundtrip(block_name=block, return_state=True)

    assert state.is_failed(), state
    message = state.message or ""
    assert f"sqlalchemy-connector block '{block}' could not connect" in message
    assert "password authentication failed" in message
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    logs = api.wait_for_log(run_id, "could not connect")
    for secret in (wrong, password_server.password):
        assert secret not in message
        assert not any(secret in line for line in logs)
