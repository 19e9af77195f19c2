"""Transactions: commit and rollback hooks around a group of tasks.

Demonstrates: tasks inside `with transaction():` succeed or fail as a group; when a later task
fails, the staged file's `on_rollback` hook removes it and its `on_commit` hook never runs.

Run it:
    python -m flows.reliability.transactions
"""

import tempfile
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.transactions import Transaction, get_transaction, transaction


@task
def stage_file(directory: str, name: str, content: str) -> str:
    """Write a file into the staging directory and remember it for the hooks."""
    path = Path(directory) / name
    path.write_text(content)
    current = get_transaction()
    if current is not None:
        current.set("path", str(path))
    return str(path)


@stage_file.on_commit
def announce_commit(txn: Transaction) -> None:
    """Commit hook: the staged file is final."""
    get_run_logger().info("commit hook: published %s", txn.get("path"))


@stage_file.on_rollback
def remove_staged(txn: Transaction) -> None:
    """Rollback hook: delete the staged file."""
    path = Path(str(txn.get("path")))
    path.unlink(missing_ok=True)
    get_run_logger().warning("rollback hook: removed %s", path)


@task
def validate(path: str, fail: bool) -> None:
    """Check the staged file; fails when `fail` is set."""
    if fail:
        raise ValueError(f"validation failed for {path}")


@flow(name="staged-publish")
def staged_publish(
    staging_dir: str, name: str = "report.csv", fail_validation: bool = False
) -> str:
    """Stage a file and validate it in one transaction."""
    with transaction():
        path = stage_file(staging_dir, name, "id,value\n1,10\n")
        validate(path, fail_validation)
    return path


if __name__ == "__main__":
    print(staged_publish(tempfile.mkdtemp()))
