"""`allow_failure`: downstream work that runs even when its upstream failed.

Demonstrates: `wait_for=[allow_failure(future)]` orders a clean-up task after a task that may
fail, and the clean-up still runs when it does; the flow decides what the failure means.

Run it:
    python -m flows.reliability.failure_handling
"""

from prefect import allow_failure, flow, task


@task
def load_primary(fail: bool) -> int:
    """Load the primary table; fails when `fail` is set."""
    if fail:
        raise RuntimeError("primary load failed")
    return 100


@task
def release_lock() -> str:
    """Clean-up that must run whatever happened upstream."""
    return "lock released"


@flow(name="load-with-cleanup")
def load_with_cleanup(fail_primary: bool = True) -> str:
    """Run the load, then always release the lock; report the load's outcome."""
    primary = load_primary.submit(fail_primary)
    cleanup = release_lock.submit(wait_for=[allow_failure(primary)], return_state=False)
    released = cleanup.result()
    primary.wait()
    outcome = "failed" if primary.state.is_failed() else "ok"
    return f"{released}; primary {outcome}"


if __name__ == "__main__":
    print(load_with_cleanup())
