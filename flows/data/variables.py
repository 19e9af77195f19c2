"""Variables: `Variable.get()` and `Variable.set()`.

Demonstrates: a flow reads configuration from a server-side variable (with a default when it
is missing) and records its progress in another variable, so the next run and operators can
see it without a redeploy.

Run it:
    python -m flows.data.variables
"""

from prefect import flow, get_run_logger
from prefect.variables import Variable


@flow(name="variable-config")
def variable_config(
    config_variable: str = "export-config", state_variable: str = "export-last-run"
) -> int:
    """Read the batch size from a variable; write the run's progress to another."""
    config = Variable.get(config_variable, default={"batch_size": 100})
    batch_size = int(config["batch_size"]) if isinstance(config, dict) else 100
    previous = Variable.get(state_variable, default={"runs": 0})
    runs = int(previous["runs"]) + 1 if isinstance(previous, dict) else 1
    Variable.set(state_variable, {"runs": runs, "batch_size": batch_size}, overwrite=True)
    get_run_logger().info("run %d with batch size %d", runs, batch_size)
    return batch_size


if __name__ == "__main__":
    print(variable_config())
