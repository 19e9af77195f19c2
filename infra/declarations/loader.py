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
from infra.declarations.context import KIND_LABELS, LoadContext, ObjectKey, ObjectKind, yaml_files
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

    def count(self) -> dict[str, int]:
        """How many objects of each kind are declared."""
        return {kind: len(items) for kind, items in self.provider_inputs().items()}


def load_declarations(
    root: Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    known_blocks: Iterable[str] = PLATFORM_BLOCKS,
    overrides_source: str = OVERRIDES_KEY,
) -> Declarations:
    """Read, override and validate every declaration under ``root``.

    Args:
        root: the repository root (holds pools/, automations/, concurrency-limits.yaml,
            variables.yaml and prefect.yaml; each is optional).
        overrides: the stack's ``prefect-platform:overrides`` value (see overrides.py).
        known_blocks: the block documents automations may name (``<type slug>/<name>``):
            blocks are provisioned by the Pulumi program, not declared in files.
        overrides_source: how error messages name where the overrides came from.

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
    automations, references = _load_automations(context)
    deployments = load_deployments(context, root / PREFECT_YAML, pools)
    # A deployment's `triggers:` are automations like the files' (each runs its deployment).
    automations += [trigger for deployment in deployments for trigger in deployment.triggers]

    _check_references(context, references, pools, automations, deployments, set(known_blocks))
    _check_automation_cycles(context, automations, references)
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


def _check_references(
    context: LoadContext,
    references: list[tuple[str, Reference]],
    pools: list[WorkPoolDeclaration],
    automations: list[AutomationDeclaration],
    deployments: list[DeploymentDeclaration],
    blocks: set[str],
) -> None:
    known: dict[ObjectKind, set[str]] = {
        "deployment": {deployment.reference for deployment in deployments},
        "work_pool": {pool.name for pool in pools},
        "work_queue": {f"{pool.name}/{queue.name}" for pool in pools for queue in pool.queues}
        | {f"{pool.name}/default" for pool in pools},
        "automation": {automation.name for automation in automations},
        "block_document": blocks,
    }
    where = {
        "deployment": "in prefect.yaml ('<flow name>/<deployment name>')",
        "work_pool": "in pools/",
        "work_queue": "in pools/ ('<pool>/<queue>')",
        "automation": "in automations/",
        "block_document": "among the blocks the platform provisions ('<type slug>/<name>')",
    }
    for file, reference in references:
        names = known[reference.kind]
        if reference.name not in names and not context.is_broken(reference.kind, reference.name):
            choices = ", ".join(sorted(names)) or "none"
            context.collector.add(
                file,
                reference.field,
                f"no {KIND_LABELS[reference.kind]} named {reference.name!r} "
                f"{where[reference.kind]}; declared: {choices}",
            )


def _check_automation_cycles(
    context: LoadContext,
    automations: list[AutomationDeclaration],
    references: list[tuple[str, Reference]],
) -> None:
    """Automations that pause or resume each other in a circle cannot be created in any order
    (each must exist before the one naming it): report each circle once, where it starts."""
    names = {automation.name for automation in automations}
    graph = {a.name: [n for n in a.named_automations() if n in names] for a in automations}
    files = {name: context.files[("automation", name)] for name in graph}
    where = {
        (file, reference.name): reference.field
        for file, reference in references
        if reference.kind == "automation"
    }
    reported: set[frozenset[str]] = set()
    for start in sorted(graph):
        path = _path_back(graph, start)
        if path is None or frozenset(path) in reported:
            continue
        reported.add(frozenset(path))
        circle = " -> ".join([*path, start])
        context.collector.add(
            files[start],
            where.get((files[start], path[1] if len(path) > 1 else start), "actions"),
            f"automations pause or resume each other in a circle, {circle} "
            f"({', '.join(files[name] for name in path)}): none can be created first; "
            "break the circle",
        )


def _path_back(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A path start -> ... that leads back to start (None when there is none)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in graph[node]:
            if target == start:
                return path
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


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
