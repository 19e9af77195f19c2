"""dbt: the project in `dbt_project/` built by prefect-dbt against PostgreSQL.

Demonstrates: `PrefectDbtRunner` runs `dbt build` (a seed, two models, schema tests and a
singular test) inside a flow run, so each dbt node becomes a task run named after it (`seed
raw_orders`, `model customer_totals`, `test ...`) and each table or view an asset. The dbt
profile is written at run time from the `sqlalchemy-connector` block, its password as a block
placeholder that prefect-dbt resolves into an environment variable: no file holds it. A
failing dbt test or a model error fails the flow run with dbt's own message.

Run it:
    python -m flows.integrations.dbt_run   # after saving the sqlalchemy-connector "warehouse"
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from prefect import flow, get_run_logger
from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings  # type: ignore[import-untyped]
from prefect_sqlalchemy import (  # type: ignore[import-untyped]
    ConnectionComponents,
    SqlAlchemyConnector,
)
from typing_extensions import TypedDict

from flows.integrations.sql import BLOCK_TYPE, block_url

PROJECT_DIR = Path(__file__).parent / "dbt_project"
"""The dbt project this repository ships."""

PROFILE = "platform_warehouse"
"""The profile `dbt_project.yml` names."""

TARGET = "warehouse"
"""The profile's only target."""


class DbtSummary(TypedDict):
    """What `dbt_build` reports: each dbt node's status, by unique id."""

    success: bool
    nodes: dict[str, str]


def profiles_yml(block_name: str, schema: str, threads: int = 2) -> dict[str, Any]:
    """A profiles.yml for the connector block: its settings, the password as a placeholder.

    prefect-dbt resolves `{{ prefect.blocks.<slug>.<name>.connection_info.password }}` when
    it invokes dbt, into an `env_var(...)` call whose value lives in this process's
    environment only; host, port, user and database are copied from the block.
    """
    connector = SqlAlchemyConnector.load(block_name)
    if not isinstance(connector.connection_info, ConnectionComponents):
        raise ValueError(
            f"the {BLOCK_TYPE} block {block_name!r} must hold connection components "
            "(driver, host, port, ...), not a URL, for dbt's profile"
        )
    url = block_url(connector)
    output: dict[str, Any] = {
        "type": "postgres",
        "host": url.host,
        "port": url.port or 5432,
        "user": url.username,
        "dbname": url.database,
        "schema": schema,
        "threads": threads,
    }
    if url.password is not None:
        placeholder = f"prefect.blocks.{BLOCK_TYPE}.{block_name}.connection_info.password"
        output["password"] = f"{{{{ {placeholder} }}}}"
    return {PROFILE: {"target": TARGET, "outputs": {TARGET: output}}}


@flow(name="dbt-build")
def dbt_build(
    block_name: str = "warehouse",
    target_schema: str = "analytics",
    max_order_amount: float = 1000,
    project_dir: str | None = None,
) -> DbtSummary:
    """`dbt build` the project into `target_schema`, connecting through the connector block.

    Args:
        block_name: The `sqlalchemy-connector` block (a PostgreSQL connection).
        target_schema: Where dbt builds the seed, views and tables.
        max_order_amount: dbt var of the singular test (an order above it fails the run).
        project_dir: Another copy of the dbt project (default: the one in this package).
    """
    project = Path(project_dir) if project_dir else PROJECT_DIR
    with tempfile.TemporaryDirectory(prefix="dbt-profiles-") as profiles_dir:
        profile = profiles_yml(block_name, target_schema)
        (Path(profiles_dir) / "profiles.yml").write_text(yaml.safe_dump(profile))
        settings = PrefectDbtSettings(project_dir=project, profiles_dir=Path(profiles_dir))
        runner = PrefectDbtRunner(settings=settings)
        variables = json.dumps({"max_order_amount": max_order_amount})
        result = runner.invoke(["build", "--vars", variables])
    nodes = {node.node.unique_id: str(node.status) for node in result.result.results}
    get_run_logger().info("dbt build: %s", ", ".join(f"{k} {v}" for k, v in nodes.items()))
    return {"success": bool(result.success), "nodes": nodes}


if __name__ == "__main__":
    print(dbt_build())
