"""`prefect.runtime`: a flow that knows how it was started.

Demonstrates: `prefect.runtime.flow_run` and `prefect.runtime.deployment` tell the code its run
name, parameters, and, when a worker or `serve()` started it, the deployment; the same flow
behaves as an ad-hoc run when called directly.

Run it:
    python -m flows.orchestration.runtime_info
"""

from typing import TypedDict

from prefect import flow, get_run_logger
from prefect.runtime import deployment, flow_run


class RuntimeReport(TypedDict):
    """What the run found out about itself."""

    flow_run_name: str
    deployment_name: str | None
    started_by: str
    parameters: dict[str, object]


@flow(name="runtime-report")
def runtime_report(label: str = "manual") -> RuntimeReport:
    """Report (log and return) the runtime context of this run."""
    deployment_name: str | None = deployment.name
    report: RuntimeReport = {
        "flow_run_name": str(flow_run.name),
        "deployment_name": deployment_name,
        "started_by": "deployment" if deployment_name else "ad-hoc",
        "parameters": dict(flow_run.parameters),
    }
    get_run_logger().info(
        "runtime: run=%s deployment=%s started_by=%s label=%s",
        report["flow_run_name"],
        deployment_name,
        report["started_by"],
        label,
    )
    return report


if __name__ == "__main__":
    print(runtime_report())
