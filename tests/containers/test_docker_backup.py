"""The Docker target's scheduled database backup, its two containers run for real.

`scheduled_backup` (infra/components/docker_backup.py) declares `backup-dump` (PostgreSQL's
image: a bash loop running `pg_dump` on request) and `backup` (the flows image running
infra/backup/scheduled.py, uploaded into it), sharing a spool volume. This runs both as
declared: the entrypoint, command, environment, health check and uploaded file of `dump_spec`
and `upload_spec`, the spool volume at the same path. Only the addresses and credentials
differ: a fresh database of this machine's PostgreSQL 15 (trust auth) and the harness's S3
server, both reached over the host network (the harness's engine has no bridge).

`postgres:16.10` cannot be pulled here (no registry is reachable). A local image stands in for
it: the harness's base image (Debian bookworm, made with debootstrap, or Prefect's image when
the engine has it) with Debian's `postgresql-client` 15, which brings bash, `pg_dump` and
`pg_isready` as postgres:16.10 has them, of the major version of the server here (15) as
postgres:16.10's is of the platform's database (16). The test builds it and removes it after.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from infra.backup import parse_database_url
from infra.backup.scheduled import SPOOL, backup_name, name_time
from infra.components.docker_backup import (
    SCRIPT_PATH,
    BackupSchedule,
    ContainerSpec,
    dump_spec,
    upload_spec,
)
from tests.backup.conftest import DEFAULT_SERVER, libpq
from tests.harness.docker_engine import TEST_LABEL, DockerEngine, FlowsImage
from tests.harness.live_server import DATABASE_URL_ENV, psql
from tests.harness.prerequisites import unavailable
from tests.harness.s3 import S3Server

# A cold flows image build (several minutes on two cores) may happen inside the setup.
pytestmark = pytest.mark.timeout(900)

PG_RESTORE = "/usr/lib/postgresql/15/bin/pg_restore"
STAND_IN = """\
FROM {base}
RUN apt-get update \\
 && apt-get install -y --no-install-recommends postgresql-client \\
 && rm -rf /var/lib/apt/lists/*
"""


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database of the local PostgreSQL (`prefect_test_<pid>_…`, as the harness names
    them, so a killed run's is dropped by the next one), as a libpq URL; dropped after."""
    server = os.environ.get(DATABASE_URL_ENV) or DEFAULT_SERVER
    try:
        psql(libpq(server, "postgres"), "SELECT 1")
    except (OSError, RuntimeError) as error:
        unavailable(f"no PostgreSQL server for the backup container test: {error}")
    name = f"prefect_test_{os.getpid()}_dk{secrets.token_hex(3)}"
    psql(libpq(server, "postgres"), f'CREATE DATABASE "{name}"')
    try:
        yield libpq(urlunsplit(urlsplit(server)._replace(path=f"/{name}")))
    finally:
        psql(libpq(server, "postgres"), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def build_stand_in(client: Any, base: str, tag: str) -> None:
    """Build the pg_dump image that stands in for postgres:16.10 (see the module docstring)."""
    dockerfile = io.BytesIO(STAND_IN.format(base=base).encode())
    lines: list[str] = []
    for chunk in client.api.build(
        fileobj=dockerfile, tag=tag, network_mode="host", rm=True, forcerm=True, decode=True
    ):
        lines.append(str(chunk.get("stream") or chunk.get("status") or ""))
        if "error" in chunk:
            raise RuntimeError(f"building {tag} failed: {chunk['error']}\n{''.join(lines[-20:])}")


def files_archive(files: dict[str, str]) -> bytes:
    """`files` (absolute path -> content) as a tar archive rooted at `/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def run_as_declared(
    client: Any, image: str, spec: ContainerSpec, secret_env: dict[str, str], spool: str
) -> Any:
    """Start a container as `scheduled_backup` declares it: entrypoint, command, environment,
    health check, uploaded files, the spool volume (the health check every second here)."""
    container = client.containers.create(
        image,
        spec.command,
        entrypoint=spec.entrypoint,
        environment={**spec.env, **secret_env},
        network_mode="host",
        volumes={spool: {"bind": SPOOL, "mode": "rw"}},
        healthcheck={"test": spec.health, "interval": 1_000_000_000, "retries": 3},
        labels={TEST_LABEL: f"docker-backup-{spec.role}"},
    )
    if spec.files:  # what pulumi-docker's `uploads` does before the start
        assert container.put_archive("/", files_archive(spec.files))
    container.start()
    return container


def wait_for(what: str, check: Callable[[], bool], seconds: float, logs: Callable[[], str]) -> None:
    """Poll `check` every second until it holds; fail with the containers' logs otherwise."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"no {what} after {seconds:.0f} s:\n{logs()[-4000:]}"
        time.sleep(1)


def json_lines(source: Any) -> list[dict[str, Any]]:
    """The JSON lines of a container's logs (or of an exec's output)."""
    text = (source if isinstance(source, bytes) else source.logs()).decode(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def is_healthy(container: Any) -> bool:
    """Whether the container's health check passes now."""
    container.reload()
    return bool(container.attrs["State"]["Health"]["Status"] == "healthy")


def test_the_declared_containers_back_up_on_schedule_with_retention_and_no_secret_in_logs(
    docker_engine: DockerEngine,
    flows_image: FlowsImage,
    s3_server: S3Server,
    database: str,
    tmp_path: Path,
) -> None:
    psql(
        database,
        "CREATE TABLE flow_run (id serial PRIMARY KEY, name text);"
        "INSERT INTO flow_run (name) VALUES ('nightly'), ('hourly'), ('weekly')",
    )
    target = parse_database_url(database)
    prefix = f"docker-backup-{secrets.token_hex(3)}/"
    now = datetime.now(UTC)
    old = prefix + backup_name(now - timedelta(days=20))
    fresh = prefix + backup_name(now - timedelta(days=1))
    foreign = f"{prefix}README.txt"
    s3 = s3_server.client()
    for key in (old, fresh, foreign):
        s3.put_object(Bucket=s3_server.bucket, Key=key, Body=b"x")
    password = f"pg-{secrets.token_hex(12)}"

    dump = dump_spec(target.host, target.port, target.name, target.user)
    upload = upload_spec(
        BackupSchedule("* * * * *", 7, prefix, s3_server.bucket), s3_server.endpoint_url
    )
    assert upload.command == ["python", SCRIPT_PATH]
    client = docker_engine.client(timeout=600)
    tag = f"prefect-platform-test-pg-dump:{secrets.token_hex(4)}"
    spool = client.volumes.create(f"ppd-backup-spool-{secrets.token_hex(4)}")
    started: list[Any] = []
    try:
        build_stand_in(client, flows_image.base.tag, tag)
        started.append(run_as_declared(client, tag, dump, {"PGPASSWORD": password}, spool.name))
        keys = {
            "AWS_ACCESS_KEY_ID": s3_server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        }
        started.append(run_as_declared(client, flows_image.tag, upload, keys, spool.name))
        began = time.monotonic()

        def logs() -> str:
            return "\n".join(f"--- {c.name}\n{c.logs().decode(errors='replace')}" for c in started)

        def backups() -> list[str]:
            return [k for k in s3_server.keys(prefix) if k not in (old, fresh) and k != foreign]

        wait_for("scheduled backup", lambda: bool(backups()), 90, logs)
        took = time.monotonic() - began
        (made,) = backups()
        wait_for("retention", lambda: old not in s3_server.keys(prefix), 20, logs)

        assert sorted(s3_server.keys(prefix)) == sorted([made, fresh, foreign])
        spooled = started[0].exec_run(["ls", "-A", SPOOL]).output.decode().split()
        assert spooled == [], spooled  # the dump was removed once uploaded
        when = name_time(made.removeprefix(prefix))
        assert when is not None and when.second < 10, made  # requested at the minute's tick
        assert abs((datetime.now(UTC) - when).total_seconds()) < 120
        archive = tmp_path / "made.dump"
        s3.download_file(s3_server.bucket, made, str(archive))
        listing = subprocess.run(
            [PG_RESTORE, "--list", str(archive)], capture_output=True, text=True, check=True
        ).stdout
        assert "TABLE public flow_run" in listing and "TABLE DATA public flow_run" in listing
        by_event = {event["event"]: event for event in json_lines(started[1])}
        assert by_event["started"]["schedule"] == "* * * * *"
        assert by_event["uploaded"]["key"] == made and by_event["uploaded"]["bytes"] > 0
        assert by_event["deleted"]["key"] == old

        now_run = started[1].exec_run(["python", SCRIPT_PATH, "--now"])
        assert now_run.exit_code == 0, now_run.output.decode()
        (uploaded,) = [e for e in json_lines(now_run.output) if e["event"] == "uploaded"]
        assert uploaded["key"] in s3_server.keys(prefix) and uploaded["key"] != made
        for container in started:
            wait_for("healthy containers", partial(is_healthy, container), 30, logs)
        for secret in (password, s3_server.secret_key, s3_server.access_key):
            assert secret not in logs() + now_run.output.decode()
        print(f"scheduled backup {made}, {took:.0f} s after the containers started")
    finally:
        for container in started:
            container.remove(force=True)
        spool.remove(force=True)
        if client.images.list(name=tag.split(":")[0]):
            client.images.remove(tag, force=True)
        client.close()
