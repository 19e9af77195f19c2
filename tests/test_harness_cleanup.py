"""Killing a test run midway leaves no server, worker or S3 process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not yet reaped by its (now gone) parent's successor.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_sigkill_of_pytest_leaves_no_service_behind(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.json"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(Path(__file__).parent / "harness" / "hold_services.py"),
        ],
        env={**os.environ, "HOLD_PIDS_FILE": str(pids_file)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not pids_file.exists() and time.monotonic() < deadline:
            assert child.poll() is None, "the child test run ended before its services started"
            time.sleep(0.5)
        pids = json.loads(pids_file.read_text())
        assert len(pids) == 3 and all(_alive(pid) for pid in pids)

        child.send_signal(signal.SIGKILL)
        child.wait(10)

        deadline = time.monotonic() + 15
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in pids if _alive(pid)] == []
    finally:
        if child.poll() is None:
            child.kill()
