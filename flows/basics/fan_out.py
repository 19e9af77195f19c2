"""Fan-out with `.map()` and `.submit()`.

Demonstrates: `.map()` makes one task run per element; `.submit()` returns a future so
independent tasks run concurrently, and `wait_for=` orders a task after others without
passing data.

Run it:
    python -m flows.basics.fan_out
"""

from prefect import flow, task
from prefect.futures import wait


@task
def square(value: int) -> int:
    """Square one value."""
    return value * value


@task
def add(left: int, right: int) -> int:
    """Add two values."""
    return left + right


@task
def publish(total: int) -> str:
    """Format the final total."""
    return f"total={total}"


@flow(name="fan-out")
def fan_out(values: list[int] | None = None) -> str:
    """Square every value with `.map()`, sum with `.submit()`, then publish."""
    numbers = values if values is not None else [1, 2, 3, 4]
    squares = square.map(numbers)
    wait(squares)
    total = 0
    for future in squares:
        total = add.submit(total, future.result()).result()
    checkpoint = add.submit(0, 0)
    return publish.submit(total, wait_for=[checkpoint], return_state=False).result()


if __name__ == "__main__":
    print(fan_out())
