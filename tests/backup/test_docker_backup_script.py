"""The Docker target's backup script (infra/backup/scheduled.py) where Docker is not needed:
its schedule, its handling of a failed dump and of abandoned spool files, its retention rule.
tests/containers/test_docker_backup.py runs it in its container against PostgreSQL and S3.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.backup import scheduled
from infra.backup.settings import BackupConfig


def test_the_next_time_is_the_schedules_in_utc() -> None:
    after = datetime(2026, 11, 27, 3, 17, tzinfo=UTC)
    assert scheduled.next_time(BackupConfig().schedule, after) == after + timedelta(days=1)
    assert scheduled.next_time("0 */6 * * *", after) == datetime(2026, 11, 27, 6, tzinfo=UTC)
    assert scheduled.next_time("* * * * *", after.replace(second=59)) == after.replace(minute=18)


def test_retention_deletes_old_backups_only_never_the_new_one_or_other_keys() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    old, fresh = (f"b/{scheduled.backup_name(now - timedelta(days=d))}" for d in (8, 6))
    keys = [old, fresh, "b/README.txt", "b/20261399T000000.000Z.dump", "b/x/" + old[2:]]
    assert scheduled.expired_keys(keys, "b/", made=fresh, now=now, retention_days=7) == [old]
    assert scheduled.expired_keys([old], "b/", made=old, now=now, retention_days=7) == []


def test_a_failed_dump_is_logged_without_secrets_and_makes_the_container_unhealthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    password = "pw-that-must-not-show"
    monkeypatch.setattr(scheduled, "STATUS_FILE", tmp_path / "status.json")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", password)
    spool = tmp_path / "spool"
    spool.mkdir()
    settings = scheduled.Settings("* * * * *", "b", "p/", 7, spool, 10.0, "http://127.0.0.1:1")

    def dump_side() -> None:  # what the dump container does when pg_dump fails
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for request in spool.glob(f"*{scheduled.REQUEST}"):
                stamp = request.name.removesuffix(scheduled.REQUEST)
                failure = f"connection failed: FATAL: password {password} rejected"
                (spool / f"{stamp}{scheduled.FAILED}").write_text(failure)
                request.unlink()
                return
            time.sleep(0.05)

    helper = threading.Thread(target=dump_side)
    helper.start()
    assert scheduled.attempt(settings) is False
    helper.join()

    (line,) = capsys.readouterr().out.splitlines()
    event = json.loads(line)
    assert event["event"] == "failed" and "pg_dump failed: connection failed" in event["error"]
    assert password not in line and password not in scheduled.STATUS_FILE.read_text()
    assert scheduled.main(["--health"]) == 1
    assert list(spool.iterdir()) == []
    scheduled.write_status(True, key="p/x.dump")
    assert scheduled.main(["--health"]) == 0


def test_abandoned_spool_files_are_removed_and_current_ones_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    stale = scheduled.backup_name(now - timedelta(hours=2)).removesuffix(scheduled.SUFFIX)
    current = scheduled.backup_name(now).removesuffix(scheduled.SUFFIX)
    names = [
        *(f"{stale}{suffix}" for suffix in (".request", ".dump", ".failed", ".partial")),
        *(f"{current}{suffix}" for suffix in (".request", ".dump")),
    ]
    for name in names:
        (tmp_path / name).write_text("x")

    scheduled.clear_abandoned(tmp_path, now, timeout=3600)

    remaining = sorted(path.name for path in tmp_path.iterdir())
    assert remaining == sorted([f"{stale}.partial", f"{current}.request", f"{current}.dump"])
    assert capsys.readouterr().out.count('"removed abandoned"') == 3
