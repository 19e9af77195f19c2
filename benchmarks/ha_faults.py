"""HA fault benchmark: flow runs at full load while the topology's processes are killed.

The production topology (`tests/harness/ha.py`: ``--api-processes`` API processes with
``--no-services``, one background-services process, a private Redis, nginx in front, basic
auth, a fresh PostgreSQL database migrated once) runs ``--runs`` flow runs of a deployment,
executed by ``--workers`` real process workers through the balancer, while the fault cycle
(SIGKILL then restart of ``api-0``, ``services``, ``redis``, ``api-1``) repeats
``--cycles`` times (default: enough cycles to cover the runs' schedule). The run and its
read-back are `tests/harness/ha_faults.py`'s `FaultRun`, the same as the CI-size
`tests/ha/test_faults.py`.

It prints: runs and their final states, duplicated and lost runs, state histories that are
not one Running then one Completed, how many times each flow body executed, every fault with
its time to recover, the automation probe latencies, and what clients saw through the
balancer (requests, 5xx answers, by the fault they happened in, and requests nginx retried on
another API process). Exit code 1 when a run is wrong or a client saw a 5xx outside a Redis
outage (while Redis is down, Prefect 3.9.1 answers some requests with 500; see
docs/performance.md#fault-tests).

Run (from the repository root; PostgreSQL, ``nginx`` and ``redis-server`` needed)::

    .venv/bin/python -m benchmarks.ha_faults --runs 300
    .venv/bin/python -m benchmarks.ha_faults --runs 50 --cycles 1
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.ha import REDIS, missing_packages, start_ha_topology
from tests.harness.ha_faults import FAULTS, FaultRun
from tests.harness.live_server import DATABASE_URL_ENV

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

CYCLE_SECONDS = 90.0
"""About how long one fault cycle takes on two cores (four faults, their restarts, pauses)."""


def _exit_on_signal(signum: int, frame: object) -> None:
    """Turn a termination signal into SystemExit, so the topology is stopped and dropped."""
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the fault benchmark; print its figures; return the exit code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="flow runs to schedule")
    parser.add_argument("--cycles", type=int, help="fault cycles (default: cover the schedule)")
    parser.add_argument("--api-processes", type=int, default=2, help="API processes (>= 2)")
    parser.add_argument("--workers", type=int, default=2, help="process workers")
    parser.add_argument("--pool-limit", type=int, default=4, help="flow runs at once")
    parser.add_argument("--pace", type=float, default=1.5, help="seconds between start times")
    parser.add_argument(
        "--down", type=float, default=3.0, help="seconds a killed process stays down"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_ENV, DEFAULT_DATABASE_URL),
        help="PostgreSQL server to create the benchmark's database on",
    )
    args = parser.parse_args(argv)
    # SIGTERM ends the run through the `finally` below (processes stopped, flow-run processes
    # with their workers, database dropped), as Ctrl-C does; a background job ignores SIGINT.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    missing = missing_packages()
    if missing:
        print(f"needs the Debian packages {' '.join(missing)}", file=sys.stderr)
        return 2
    cycles = args.cycles or max(1, math.ceil(args.runs * args.pace / CYCLE_SECONDS))
    faults = [name for _ in range(cycles) for name in FAULTS]

    with tempfile.TemporaryDirectory(prefix="platform-ha-bench-") as workdir:
        started = time.monotonic()
        topology = start_ha_topology(Path(workdir), args.database_url, args.api_processes)
        print(
            f"topology up in {time.monotonic() - started:.1f}s: {args.api_processes} API "
            f"processes, services, Redis, nginx on {topology.database}"
        )
        try:
            run = FaultRun(
                topology,
                Path(workdir) / "fault-run",
                runs=args.runs,
                workers=args.workers,
                pool_limit=args.pool_limit,
                down_seconds=args.down,
                pace=args.pace,
            )
            report = run.run(faults)
        finally:
            topology.stop()
    print(f"ha_faults --runs {args.runs}: {cycles} fault cycle(s)")
    print("\n".join(report.lines()))
    problems = report.problems(tolerated=[REDIS])
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
