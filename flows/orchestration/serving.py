"""`flow.serve()`: a long-running process that schedules and runs its own flow.

Demonstrates: `serve()` registers a deployment with an interval schedule and then polls for
its scheduled runs and executes them in subprocesses, with no work pool or worker. Stop it
with Ctrl-C.

Run it:
    python -m flows.orchestration.serving --name heartbeat --interval 60
"""

import argparse
from datetime import timedelta

from prefect import flow, get_run_logger


@flow(name="heartbeat")
def heartbeat(source: str = "serve") -> str:
    """Log a heartbeat from whatever scheduled this run."""
    get_run_logger().info("heartbeat from %s", source)
    return source


def main(argv: list[str] | None = None) -> None:
    """Serve `heartbeat` on an interval schedule until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--name", default="heartbeat", help="deployment name")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between runs")
    args = parser.parse_args(argv)
    heartbeat.serve(
        name=args.name,
        interval=timedelta(seconds=args.interval),
        parameters={"source": f"serve/{args.name}"},
        tags=["served"],
    )


if __name__ == "__main__":
    main()
