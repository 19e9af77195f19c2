"""Task caching: `INPUTS`, `TASK_SOURCE`, `cache_key_fn` and expiration.

Demonstrates: a second call with the same inputs (and unchanged task code) ends `Cached`
without running the body; a custom `cache_key_fn` caches per customer and ignores the request
id; `cache_expiration` makes an entry stale, after which the body runs again.

Run it:
    python -m flows.reliability.caching
"""

import time
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, TASK_SOURCE
from prefect.context import TaskRunContext


@task(cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(hours=1))
def expensive_lookup(key: str) -> str:
    """An expensive call cached on its inputs and its source code."""
    get_run_logger().info("computing lookup %s", key)
    return key.upper()


def customer_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Cache key: the customer only (the request id does not change the answer)."""
    return f"customer-profile-{parameters['customer_id']}"


@task(cache_key_fn=customer_key)
def customer_profile(customer_id: str, request_id: str) -> dict[str, str]:
    """Build a customer profile; cached per customer by `customer_key`."""
    get_run_logger().info("building profile %s for %s", customer_id, request_id)
    return {"customer": customer_id, "tier": "gold" if customer_id.endswith("7") else "basic"}


@task(cache_policy=INPUTS, cache_expiration=timedelta(seconds=2))
def exchange_rate(currency: str) -> float:
    """A short-lived cached value: stale two seconds after it was computed."""
    get_run_logger().info("fetching rate %s", currency)
    return float(len(currency))


@flow(name="cached-lookups")
def cached_lookups(key: str = "alpha", customer_id: str = "c-7", pause: float = 2.5) -> str:
    """Call each cached task twice; wait past the rate's expiration and call it again."""
    first = expensive_lookup(key)
    second = expensive_lookup(key)
    customer_profile(customer_id, "request-1")
    customer_profile(customer_id, "request-2")
    exchange_rate(key)
    exchange_rate(key)
    time.sleep(pause)
    exchange_rate(key)
    return f"{first}/{second}"


if __name__ == "__main__":
    print(cached_lookups())
