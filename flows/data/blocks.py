"""Blocks: a custom `Block` subclass, the `Secret` block and `SecretStr` fields.

Demonstrates: `WarehouseConfig` is a typed block whose password is a `SecretStr` (stored
encrypted, shown as `********` by the API and UI); a `Secret` block holds an API token. The
flow loads both by name, uses the secret values, and never logs them.

Run it:
    python -m flows.data.blocks   # after saving blocks "warehouse" and "signing-key"
"""

import hashlib
import hmac
from typing import cast

from prefect import flow, get_run_logger, task
from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import Field, SecretStr


class WarehouseConfig(Block):
    """Connection settings for the (pretend) warehouse."""

    _block_type_slug = "platform-warehouse-config"

    host: str = Field(default="127.0.0.1", description="Warehouse host")
    user: str = Field(description="Login user")
    password: SecretStr = Field(description="Login password (stored encrypted)")

    def dsn(self) -> str:
        """A connection string with the password masked, safe to log."""
        return f"warehouse://{self.user}:***@{self.host}"


@task
def sign(message: str, key: str) -> str:
    """Sign `message` with the secret `key` (HMAC-SHA256)."""
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).hexdigest()


@flow(name="block-config")
def block_config(
    warehouse_block: str = "warehouse", secret_block: str = "signing-key", message: str = "hi"
) -> str:
    """Load the warehouse config and signing key blocks; sign a message."""
    logger = get_run_logger()
    # Block.load dispatches sync/async; in a sync flow it returns the block itself.
    warehouse = cast(WarehouseConfig, WarehouseConfig.load(warehouse_block))
    logger.info("connecting to %s (password %s)", warehouse.dsn(), warehouse.password)
    key = str(cast(Secret[str], Secret.load(secret_block)).get())
    signature = sign(message, key)
    logger.info("signature of %r: %s", message, signature)
    return signature


if __name__ == "__main__":
    print(block_config())
