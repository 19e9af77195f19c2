"""The flow the HA fault run deploys: it records each execution, so a double run shows."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run


@flow(name="ha-step")
def ha_step(index: int, ledger: str, seconds: float = 1.0) -> int:
    """Append one line to ``<ledger>/<flow run id>`` (one line per execution), then sleep."""
    with (Path(ledger) / str(flow_run.id)).open("a") as record:
        record.write(f"{index}\n")
    time.sleep(seconds)
    return index
