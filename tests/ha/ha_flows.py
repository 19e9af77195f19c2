"""The flow the HA runs deploy: it records each execution, so a double run shows."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run

GATE_TIMEOUT = 600.0
"""Seconds a gated run waits for its gate before it goes on anyway (a test that died)."""


@flow(name="ha-step")
def ha_step(index: int, ledger: str, seconds: float = 1.0, gate: str | None = None) -> int:
    """Append one line to ``<ledger>/<flow run id>`` (one line per execution), then sleep.

    With `gate`, first wait until that file exists: the test decides when the run may end.
    """
    with (Path(ledger) / str(flow_run.id)).open("a") as record:
        record.write(f"{index}\n")
    if gate is not None:
        deadline = time.monotonic() + GATE_TIMEOUT
        while not Path(gate).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
    time.sleep(seconds)
    return index
