"""The HA topology under faults: runs finish exactly once while processes are killed.

A CI-size `FaultRun` (`tests/harness/ha_faults.py`): flow runs scheduled on a deployment and
executed by two real process workers through the balancer, while an API process, the
background-services process, Redis and the other API process are each killed (SIGKILL) and
restarted. `benchmarks/ha_faults.py` is the same at full size.
"""

from __future__ import annotations

import pytest

from tests.harness.ha import REDIS, HaTopology
from tests.harness.ha_faults import FAULTS, FaultRun

RUNS = 40
"""Flow runs at CI size (the whole test stays under three minutes on two cores)."""


@pytest.mark.timeout(420)
def test_runs_finish_exactly_once_through_faults(ha_topology: HaTopology) -> None:
    """Every run Completed once, none lost or doubled, automations fire, no 5xx but Redis's."""
    report = FaultRun(ha_topology, ha_topology.workdir / "fault-run", runs=RUNS).run(FAULTS)
    print("\n" + "\n".join(report.lines()))

    assert [fault.process for fault in report.faults] == list(FAULTS)
    # The automation fired before the faults, after each services/Redis restart, and at the end.
    assert len(report.automation_seconds) == 4
    # While Redis is down, and for some seconds after it is back (`REDIS_RECONNECT`), an API
    # process answers a worker's poll with 500: it queues Docket tasks in Redis (Prefect 3.9.1;
    # docs/operations.md#high-availability). Those are reported, not failures of the
    # topology. Any other 5xx is.
    assert report.problems(tolerated=[REDIS]) == []
