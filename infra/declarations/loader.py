"""The one entry point: read every declaration, apply stack overrides, validate everything.

Reading is pure (files only, no API call): a bad declaration fails here, before
anything is applied, with every problem listed as ``file: field: expected``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from infra.declarations.automations import AutomationDeclaration, Reference, check_automation
from infra.declarations.blocks import BlockDeclaration, check_block_references, load_blocks
from infra.declarations.context import LoadContext, ObjectKey, ObjectKind, yaml_files
from infra.declarations.cross_checks import check_automation_cycles, check_references
from infra.declarations.deployment_loader import PREFECT_YAML, load_deployments
from infra.declarations.deployments import DeploymentDeclaration
from infra.declarations.errors import Collector, join_field
from infra.declarations.limits import (
    ConcurrencyLimitDeclaration,
    ConcurrencyLimitsFile,
    VariableDeclaration,
    VariablesFile,
)
from infra.declarations.overrides import OVERRIDES_KEY, Overrides
from infra.declarations.pool_loader import load_pools
from infra.declarations.pools import WorkPoolDeclaration, WorkQueueDeclaration
from infra.declarations.webhooks import WebhookDeclaration, load_webhooks

#: Blocks the platform's Pulumi program provisions, as ``<block type slug>/<name>``.
PLATFORM_BLOCKS = frozenset(
    {"minio-credentials/object-store", "s3-bucket/results", "secret/github-token"}
)

AUTOMATIONS_DIR = "automations"
LIMITS_FILE = "concurrency-limits.yaml"
VARIABLES_FILE = "variables.yaml"


@dataclass(frozen=True)
class Declarations:
    """Every declared Prefect object, validated, with the file each came from."""

    root: Path
    work_pools: list[WorkPoolDeclaration] = field(default_factory=list)
    work_queues: list[WorkQueueDeclaration] = field(default_factory=list)
    concurrency_limits: list[ConcurrencyLimitDeclaration] = field(default_factory=list)
    variables: list[VariableDeclaration] = field(default_factory=list)
    automations: list[AutomationDeclaration] = field(default_factory=list)
    deployments: list[DeploymentDeclaration] = field(default_factory=list)
    blocks: list[BlockDeclaration] = field(default_factory=list)
    """Block documents declared in `blocks/` (their secrets resolve in the Pulumi program)."""
    webhooks: list[WebhookDeclaration] = field(default_factory=list)
    """Endpoints of the webhook gateway declared in `webhooks/` (not Prefect objects)."""
    files: dict[ObjectKey, str] = field(default_factory=dict)
    """Where each object is declared, by `(kind, name)`."""

    def provider_inputs(self) -> dict[str, list[dict[str, Any]]]:
        """Provider inputs per kind, as JSON values (the contract models, dumped)."""
        return {
            "work_pools": [item.provider_inputs().dump() for item in self.work_pools],
            "work_queues": [item.provider_inputs().dump() for item in self.work_queues],
            "concurrency_limits": [
                item.provider_inputs().dump() for item in self.concurrency_limits
            ],
            "variables": [item.provider_inputs().dump() for item in self.variables],
            "automations": [item.provider_inputs().dump() for item in self.automations],
            "deployments": [item.provider_inputs().dump() for item in self.deployments],
        }

    def secret_keys(self) -> set[str]:
        """The stack config keys (`prefect-platform:<key>`) declarations take secrets from."""
        keys = {key for block in self.blocks for key in block.secrets.values()}
        return keys | {webhook.secret for webhook in self.webhooks}

    def count(self) -> dict[str, int]:
        """How many objects of each kind are declared."""
        counts = {kind: len(items) for kind, items in self.provider_inputs().items()}
        return {**counts, "blocks": len(self.blocks), "webhooks": len(self.webhooks)}


def load_declarations(
    root: Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    known_blocks: Iterable[str] = PLATFORM_BLOCKS,
    overrides_source: str = OVERRIDES_KEY,
    known_secrets: Iterable[str] | None = None,
) -> Declarations:
    """Read, override and validate every declaration under ``root``.

    Args:
        root: the repository root (holds pools/, automations/, concurrency-limits.yaml,
            variables.yaml and prefect.yaml; each is optional).
        overrides: the stack's ``prefect-platform:overrides`` value (see overrides.py).
        known_blocks: the block documents the Pulumi program provisions (``<type
            slug>/<name>``); automations may name them and those declared in ``blocks/``.
        overrides_source: how error messages name where the overrides came from.
        known_secrets: the stack's Pulumi config keys, when known: a block or webhook whose
            secret names a key not among them is an error (None: not checked).

    Returns:
        The validated declarations.

    Raises:
        DeclarationError: every problem found, each naming the file and the field.
    """
    collector = Collector()
    parsed = Overrides()
    if overrides:
        try:
            parsed = Overrides.model_validate(overrides)
        except ValidationError as error:
            collector.add_validation_error(overrides_source, error)
    context = LoadContext(root, collector, parsed, overrides_source)

    pools = load_pools(context)
    queues = [queue for pool in pools for queue in pool.work_queues()]
    limits = _load_list_file(
        context, LIMITS_FILE, ConcurrencyLimitsFile, "concurrency_limits", "concurrency_limit"
    )
    variables = _load_list_file(context, VARIABLES_FILE, VariablesFile, "variables", "variable")
    blocks = load_blocks(context, known_blocks, known_secrets)
    check_block_references(context, blocks, known_blocks)
    automations, references = _load_automations(context)
    deployments = load_deployments(context, root / PREFECT_YAML, pools)
    # A deployment's `triggers:` are automations like the files' (each runs its deployment).
    automations += [trigger for deployment in deployments for trigger in deployment.triggers]

    block_names = set(known_blocks) | {block.reference for block in blocks}
    check_references(context, references, pools, automations, deployments, block_names)
    check_automation_cycles(context, automations, references)
    webhooks = load_webhooks(context, known_secrets)
    _check_unused_overrides(context)
    collector.raise_if_any()
    return Declarations(
        root=root,
        work_pools=pools,
        work_queues=queues,
        concurrency_limits=limits,
        variables=variables,
        automations=automations,
        deployments=deployments,
        blocks=blocks,
        webhooks=webhooks,
        files=context.files,
    )


def _load_list_file(
    context: LoadContext,
    filename: str,
    model: type[BaseModel],
    key: str,
    kind: ObjectKind,
) -> list[Any]:
    path = context.root / filename
    if not path.exists():
        return []
    raw = context.read_mapping(path)
    if raw is None:
        return []
    items = raw.get(key)
    overridden: set[str] = set()
    if isinstance(items, list):
        merged = []
        for item in items:
            if isinstance(item, dict):
                changes = context.override(key, item.get("name"))
                overridden.update(changes)
                item = {**item, **changes}
            merged.append(item)
        raw = {**raw, key: merged}
    document = context.validate(model, raw, filename, overridden=overridden)
    if document is None:
        return []
    declared: list[Any] = []
    for index, item in enumerate(getattr(document, key)):
        if context.claim((kind, item.name), filename, filename, join_field(key, index, "name")):
            declared.append(item)
    return declared


def _load_automations(
    context: LoadContext,
) -> tuple[list[AutomationDeclaration], list[tuple[str, Reference]]]:
    automations: list[AutomationDeclaration] = []
    references: list[tuple[str, Reference]] = []
    for path in yaml_files(context.root / AUTOMATIONS_DIR):
        file = context.relative(path)
        raw = context.read_mapping(path)
        if raw is None:
            context.mark_broken("automation", None)
            continue
        changes = context.override("automations", raw.get("name"))
        automation: AutomationDeclaration | None = context.validate(
            AutomationDeclaration, {**raw, **changes}, file, overridden=changes
        )
        if automation is None:
            context.mark_broken("automation", raw.get("name"))
            continue
        _, found, problems = check_automation(automation)
        for field_name, message in problems:
            context.collector.add(file, field_name, message)
        references.extend((file, reference) for reference in found)
        if problems:
            context.mark_broken("automation", automation.name)
        if problems or not context.claim(("automation", automation.name), file, file, "name"):
            continue
        automations.append(automation)
    return automations, references


_SINGULAR = {
    "pools": "work pool",
    "queues": "work queue ('<pool>/<queue>')",
    "concurrency_limits": "concurrency limit",
    "variables": "variable",
    "automations": "automation",
    "deployments": "deployment ('<flow name>/<deployment name>')",
}


def _check_unused_overrides(context: LoadContext) -> None:
    for kind in Overrides.model_fields:
        for name in getattr(context.overrides, kind):
            if (kind, name) not in context.used_overrides:
                context.collector.add(
                    context.overrides_source,
                    join_field(kind, name),
                    f"overrides an object that is not declared: no {_SINGULAR[kind]} "
                    f"named {name!r}",
                )
