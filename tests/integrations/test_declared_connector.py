"""The warehouse connector declared as code: `blocks/*.yaml` applied by the Pulumi program.

A repository holding only `blocks/<name>.yaml` (prefect-sqlalchemy's `sqlalchemy-connector`,
its password a stack config secret) goes through the real program under the engine stand-in,
as `pulumi up` does; the flow of `flows/integrations/sql.py` then loads the block by name and
writes and reads PostgreSQL through it. `pulumi destroy` removes the block.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from prefect_sqlalchemy import SqlAlchemyConnector  # type: ignore[import-untyped]

from flows.integrations.sql import warehouse_roundtrip
from tests.harness.engine import ForwardingMocks, apply_program, destroy, external_stack
from tests.harness.live_server import LiveServer
from tests.harness.s3 import S3Server
from tests.integrations.conftest import Warehouse

PASSWORD_KEY = "warehousePassword"


def test_a_declared_connector_block_is_applied_and_a_flow_uses_it(
    prefect_server: LiveServer, s3_server: S3Server, warehouse: Warehouse, tmp_path: Path
) -> None:
    name = f"warehouse-{uuid.uuid4().hex[:8]}"
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / f"{name}.yaml").write_text(
        f"type: sqlalchemy-connector\nname: {name}\ndata:\n  connection_info:\n"
        f"    driver: postgresql+psycopg2\n    host: {warehouse.host}\n    port: {warehouse.port}\n"
        f"    database: {warehouse.database}\n    username: {warehouse.user}\n"
        f"secrets:\n  connection_info.password: {PASSWORD_KEY}\n"
    )
    password = f"declared-{uuid.uuid4().hex}"
    config, secrets = external_stack(prefect_server, s3_server, **{PASSWORD_KEY: password})
    mocks = ForwardingMocks()

    applied = apply_program(mocks, config, secrets, tmp_path)
    try:
        assert "POST /api/block_documents/" in applied.write_requests
        loaded = SqlAlchemyConnector.load(name)
        assert loaded.connection_info.password.get_secret_value() == password
        state = warehouse_roundtrip(
            block_name=name,
            table="declared_readings",
            readings=[{"sensor": "x", "reading": 4.5}],
            return_state=True,
        )
        assert state.is_completed(), state
        assert warehouse.sql("SELECT sensor, reading FROM declared_readings") == "x|4.5\n"
    finally:
        destroy(mocks)
    with pytest.raises(ValueError, match="Unable to find block document"):
        SqlAlchemyConnector.load(name)
