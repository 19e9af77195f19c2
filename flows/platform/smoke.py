"""The smoke flow: the smallest real run, used to prove an environment works.

Demonstrates: a flow that logs a greeting and returns it. `prefect.yaml` deploys it as
`smoke/smoke-process`; the smoke tests run it, and the basic-auth test shows that a client
without `PREFECT_API_AUTH_STRING` cannot run it.

Run it:
    python -m flows.platform.smoke
"""

from prefect import flow, get_run_logger


@flow(name="smoke")
def smoke(name: str = "world") -> str:
    """Log and return a greeting for `name`."""
    greeting = f"hello {name}"
    get_run_logger().info("smoke says: %s", greeting)
    return greeting


if __name__ == "__main__":
    print(smoke())
