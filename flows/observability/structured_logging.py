"""Structured logging: `get_run_logger()` and `log_prints`.

Demonstrates: records from the run logger carry the flow run and task run ids and a level, so
the UI and API show them per run; with `log_prints=True`, plain `print()` output inside the
flow and its tasks is captured as INFO logs too.

Run it:
    python -m flows.observability.structured_logging
"""

from prefect import flow, get_run_logger, task


@task
def check_rows(rows: int) -> int:
    """Warn when a batch is empty; print a progress line."""
    logger = get_run_logger()
    if rows == 0:
        logger.warning("batch is empty")
    print(f"checked {rows} rows")
    return rows


@flow(name="logged-run", log_prints=True)
def logged_run(batches: list[int] | None = None) -> int:
    """Log through the run logger and through print()."""
    logger = get_run_logger()
    selected = batches if batches is not None else [3, 0, 5]
    logger.info("processing %d batches", len(selected))
    total = sum(check_rows(rows) for rows in selected)
    print(f"total rows: {total}")
    return total


if __name__ == "__main__":
    print(logged_run())
