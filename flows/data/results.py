"""Results and persistence: `persist_result` and `result_storage_key`.

Demonstrates: a task's return value is written (as JSON) to result storage under a key
templated from its parameters, so another process can read it back later by that key, and
the task run's state in the API points at it.

Run it:
    python -m flows.data.results
    # then, from any process with the same result storage:
    python -c "from prefect.results import ResultStore; \
print(ResultStore().read('daily-totals/2026-01-01.json').result)"
"""

from prefect import flow, task


@task(
    persist_result=True,
    result_serializer="json",
    result_storage_key="daily-totals/{parameters[day]}.json",
)
def daily_totals(day: str, amounts: list[int]) -> dict[str, int | str]:
    """Compute the totals of one day; the result is persisted under the day's key."""
    return {"day": day, "count": len(amounts), "total": sum(amounts)}


@flow(name="persisted-totals", persist_result=True)
def persisted_totals(day: str = "2026-01-01", amounts: list[int] | None = None) -> str:
    """Compute and persist one day's totals; return the storage key."""
    daily_totals(day, amounts if amounts is not None else [5, 7, 11])
    return f"daily-totals/{day}.json"


if __name__ == "__main__":
    print(persisted_totals())
