"""Tags from the decorator and from the `tags()` context manager.

Demonstrates: `@task(tags=...)` tags every run of a task; `with tags(...)` adds tags to every
run created inside the block (flow runs and task runs), for filtering and concurrency limits.

Run it:
    python -m flows.basics.tags
"""

from prefect import flow, tags, task


@task(tags=["io", "warehouse"])
def write_rows(rows: int) -> int:
    """A task tagged by its decorator."""
    return rows


@task
def audit(rows: int) -> str:
    """A task tagged only by the surrounding context."""
    return f"audited {rows}"


@flow(name="tagged-load")
def tagged_load(rows: int = 10) -> str:
    """Write rows, then audit them inside an extra tag context."""
    written = write_rows(rows)
    with tags("audit"):
        return audit(written)


if __name__ == "__main__":
    with tags("nightly"):
        print(tagged_load())
