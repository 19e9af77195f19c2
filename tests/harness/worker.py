"""A real process worker for tests: ``prefect worker start`` polling every second."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .live_server import LiveServer
from .processes import ManagedProcess


@contextmanager
def running_worker(
    server: LiveServer, pool: str, workdir: Path, worker_type: str = "process"
) -> Iterator[ManagedProcess]:
    """Run a worker for `pool` while the block runs; stop it with SIGINT afterwards.

    The worker creates the pool if it does not exist. It ignores a single
    SIGTERM, so it is stopped with SIGINT (and SIGKILL if that is not enough).
    """
    env = {
        **os.environ,
        **server.client_env(workdir / "worker-home"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
    }
    log = workdir / f"worker-{pool}.log"
    process = ManagedProcess(
        f"worker[{pool}]",
        [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            worker_type,
            "--name",
            f"test-worker-{pool}",
        ],
        env=env,
        log_path=log,
        cwd=workdir,
        stop_signal=signal.SIGINT,
    )
    try:
        process.wait_until(lambda: "started" in log.read_text().lower(), 60, "worker start-up")
        yield process
    finally:
        process.stop()
