"""Not collected by default: a test that starts every service and waits to be killed.

`tests/test_harness_cleanup.py` runs it in a child pytest, kills that pytest
with SIGKILL and checks that no service process survives.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.conftest import WorkerFactory
from tests.harness.live_server import LiveServer
from tests.harness.s3 import S3Server


def test_hold(
    prefect_server: LiveServer, s3_server: S3Server, process_worker: WorkerFactory
) -> None:
    with process_worker("hold-pool") as worker:
        pids = [prefect_server.process.popen.pid, s3_server.process.popen.pid, worker.popen.pid]
        Path(os.environ["HOLD_PIDS_FILE"]).write_text(json.dumps(pids))
        time.sleep(300)
