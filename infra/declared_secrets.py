"""Declarations whose values live in the stack's config secrets: blocks and webhook endpoints.

`blocks/*.yaml` and `webhooks/*.yaml` name Pulumi config keys (`prefect-platform:<key>`) for
their secret fields; this module reads those keys as Pulumi secrets and hands the values to
the block provider and the webhook gateway. A key the stack does not set stops the program
before anything is declared, naming the file and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi

from infra.config import NAMESPACE, ConfigError
from infra.declarations import Declarations
from infra.declarations.blocks import BlockDeclaration, creation_order
from infra.gateway.config import secret_env_name
from infra.platform_types import GatewaySpec
from infra.prefect_objects import BlockSpec


def read_secret(settings: pulumi.Config, key: str, where: str) -> pulumi.Output[str]:
    """The secret `prefect-platform:<key>`; `where` (`file: field`) names who needs it.

    Raises:
        ConfigError: the stack does not set the key.
    """
    value = settings.get_secret(key)
    if value is None:
        raise ConfigError(
            f"{where}: the stack has no config secret '{NAMESPACE}:{key}'; set it with "
            f"`pulumi config set --secret {NAMESPACE}:{key} <value>`"
        )
    return value


def block_specs(declarations: Declarations, settings: pulumi.Config) -> list[BlockSpec]:
    """The blocks of `blocks/`, each after those it names, with their secrets filled in."""
    specs = []
    for block in creation_order(declarations.blocks):
        file = declarations.files[("block_document", block.reference)]
        secrets = {
            key: read_secret(settings, key, f"{file}: secrets.{path}")
            for path, key in block.secrets.items()
        }
        specs.append(
            BlockSpec(
                block.type,
                block.name,
                _block_data(block, secrets),
                depends_on=tuple(block.block_references().values()),
            )
        )
    return specs


def _block_data(
    block: BlockDeclaration, secrets: Mapping[str, pulumi.Output[str]]
) -> pulumi.Input[Mapping[str, Any]]:
    if not secrets:
        return block.provider_data({})
    return pulumi.Output.all(**secrets).apply(block.provider_data)


def gateway_spec(declarations: Declarations, settings: pulumi.Config) -> GatewaySpec | None:
    """The webhook gateway's endpoints and secrets (None when `webhooks/` declares none)."""
    if not declarations.webhooks:
        return None
    endpoints = [webhook.endpoint().model_dump(mode="json") for webhook in declarations.webhooks]
    secrets = {
        secret_env_name(webhook.slug): read_secret(
            settings, webhook.secret, f"webhooks/ {webhook.slug!r}: secret"
        )
        for webhook in declarations.webhooks
    }
    return GatewaySpec(
        endpoints=json.dumps(endpoints, sort_keys=True),
        secrets=secrets,
        slugs=[webhook.slug for webhook in declarations.webhooks],
    )
