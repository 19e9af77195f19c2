"""Loaded by subprocesses of the apply benchmark: log their Prefect API requests."""

import os
from pathlib import Path

if os.environ.get("BENCH_REQUEST_LOG") and os.environ.get("BENCH_API_URL"):
    from benchmarks.request_log import install

    install(Path(os.environ["BENCH_REQUEST_LOG"]), os.environ["BENCH_API_URL"])
