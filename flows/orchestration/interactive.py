"""Interactive flows: `pause_flow_run` waiting for typed input.

Demonstrates: the flow pauses and waits for an `Approval` (a `RunInput`, i.e. a pydantic
model); the UI shows a form, and the API (`resume_flow_run(id, run_input={...})`) resumes the
run. Input that does not match the model is refused and the run stays paused.

Run it, then resume it from the UI or with `prefect.flow_runs.resume_flow_run`:
    python -m flows.orchestration.interactive
"""

from prefect import flow, get_run_logger
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field


class Approval(RunInput):
    """A reviewer's decision on a payout."""

    approved: bool = Field(description="Whether the payout may go ahead")
    reviewer: str = Field(description="Who decided", min_length=2)


@flow(name="payout-approval")
def payout_approval(amount: int = 500, timeout_seconds: int = 120) -> str:
    """Ask a human to approve a payout of `amount`, then act on the answer."""
    logger = get_run_logger()
    logger.info("waiting for approval of a payout of %d", amount)
    decision = pause_flow_run(wait_for_input=Approval, timeout=timeout_seconds, poll_interval=1)
    outcome = "paid" if decision.approved else "refused"
    logger.info("payout %s by %s", outcome, decision.reviewer)
    return f"{outcome} by {decision.reviewer}"


if __name__ == "__main__":
    print(payout_approval())
