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
from infra.declarations.deployments import DeploymentDeclaration
from infra.declarations.errors import Collector, join_field
from infra.declarations.limits import (
    ConcurrencyLimitDeclaration,
    ConcurrencyLimitsFile,
    VariableDeclaration,
    VariablesFile,
)
from infra.declarations.overrides import OVERRIDES_KEY, Overrides, changed_fields
from infra.declarations.pools import WorkPoolDeclaration, WorkQueueDeclaration
from infra.declarations.templates import template_problems
from infra.declarations.yaml_io import YamlError, read_yaml
from infra.merging import deep_merge

#: Blocks the platform's Pulumi program provisions, as ``<block type slug>/<name>``.
PLATFORM_BLOCKS = frozenset(
    {"minio-credentials/object-store", "s3-bucket/results", "secret/github-token"}
)

POOLS_DIR = "pools"
AUTOMATIONS_DIR = "automations"
LIMITS_FILE = "concurrency-limits.yaml"
VARIABLES_FILE = "variables.yaml"
PREFECT_YAML = "prefect.yaml"


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
    files: dict[str, str] = field(default_factory=dict)

    def provider_inputs(self) -> dict[str, list[dict[str, Any]]]:
        """Provider inputs per kind, in the shared contract's shape."""
        return {
            "work_pools": [item.provider_inputs() for item in self.work_pools],
            "work_queues": [item.provider_inputs() for item in self.work_queues],
            "concurrency_limits": [item.provider_inputs() for item in self.concurrency_limits],
            "variables": [item.provider_inputs() for item in self.variables],
            "automations": [item.provider_inputs() for item in self.automations],
            "deployments": [item.provider_inputs() for item in self.deployments],
        }

    def count(self) -> dict[str, int]:
        """How many objects of each kind are declared."""
        return {kind: len(items) for kind, items in self.provider_inputs().items()}


@dataclass
class LoadContext:
    """State of one load: where files are, problems so far, overrides and their use."""

    root: Path
    collector: Collector
    overrides: Overrides
    overrides_source: str
    used_overrides: set[tuple[str, str]] = field(default_factory=set)
    broken: dict[str, set[str]] = field(default_factory=dict)

    def mark_broken(self, kind: str, name: Any) -> None:
        """Remember a declaration that failed (``*``: name unknown), to avoid follow-on errors."""
        self.broken.setdefault(kind, set()).add(name if isinstance(name, str) else "*")

    def is_broken(self, kind: str, name: str) -> bool:
        """Whether a reference points at a declaration that already failed validation."""
        names = self.broken.get(kind, set())
        if "*" in names or name in names:
            return True
        if kind == "work_queue":
            return self.is_broken("work_pool", name.split("/", 1)[0])
        if kind == "deployment":
            return name.split("/", 1)[-1] in self.broken.get("deployment_name", set())
        return False

    def relative(self, path: Path) -> str:
        """A path as error messages show it: relative to the root when inside it."""
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def override(self, kind: str, name: Any) -> dict[str, Any]:
        """The fields a stack overrides for one object (and remember it was used)."""
        entries: dict[str, BaseModel] = getattr(self.overrides, kind)
        if not isinstance(name, str) or name not in entries:
            return {}
        self.used_overrides.add((kind, name))
        return changed_fields(entries[name])  # type: ignore[arg-type]

    def validate(
        self,
        model: type[BaseModel],
        raw: Any,
        file: str,
        prefix: Iterable[str | int] = (),
        overridden: Iterable[str] = (),
    ) -> Any:
        """Validate raw data with a model; record errors (marking overridden fields)."""
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            before = len(self.collector.issues)
            self.collector.add_validation_error(file, error, prefix)
            marked = set(overridden)
            for index in range(before, len(self.collector.issues)):
                issue = self.collector.issues[index]
                segments = {part.split("[")[0] for part in issue.field.split(".")}
                if marked & segments:
                    self.collector.issues[index] = type(issue)(
                        issue.file, issue.field, f"{issue.message} (set by {self.overrides_source})"
                    )
            return None


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
    from infra.declarations.deployment_loader import load_deployments

    collector = Collector()
    parsed = Overrides()
    if overrides:
        try:
            parsed = Overrides.model_validate(overrides)
        except ValidationError as error:
            collector.add_validation_error(overrides_source, error)
    context = LoadContext(root, collector, parsed, overrides_source)
    files: dict[str, str] = {}

    pools = _load_pools(context, files)
    queues = [queue for pool in pools for queue in pool.work_queues()]
    limits = _load_list_file(
        context, LIMITS_FILE, ConcurrencyLimitsFile, "concurrency_limits", files
    )
    variables = _load_list_file(context, VARIABLES_FILE, VariablesFile, "variables", files)
    automations, references = _load_automations(context, files)
    deployments = load_deployments(context, root / PREFECT_YAML, pools, files)

    _check_references(context, references, pools, automations, deployments, set(known_blocks))
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
        files=files,
    )


def read_mapping(context: LoadContext, path: Path) -> dict[str, Any] | None:
    """Read a YAML file that must hold a mapping; record a problem and return None if not."""
    file = context.relative(path)
    try:
        document = read_yaml(path)
    except (YamlError, OSError, UnicodeDecodeError) as error:
        context.collector.add(file, "", str(error))
        return None
    if not isinstance(document, dict):
        kind = "an empty file" if document is None else f"a {type(document).__name__}"
        context.collector.add(file, "", f"expected a mapping of fields, got {kind}")
        return None
    return document


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def _claim(
    context: LoadContext, files: dict[str, str], key: str, file: str, field_name: str
) -> bool:
    """Record where an object is declared; a second declaration is an error."""
    kind, name = key.split(":", 1)
    if key in files:
        context.mark_broken(kind.replace(" ", "_"), name)
        context.collector.add(
            file, field_name, f"duplicate {kind} name {name!r}: already declared in {files[key]}"
        )
        return False
    files[key] = file
    return True


def _load_pools(context: LoadContext, files: dict[str, str]) -> list[WorkPoolDeclaration]:
    pools: list[WorkPoolDeclaration] = []
    for path in _yaml_files(context.root / POOLS_DIR):
        file = context.relative(path)
        raw = read_mapping(context, path)
        if raw is None:
            context.mark_broken("work_pool", None)
            continue
        name = raw.get("name")
        changes = context.override("pools", name)
        raw = deep_merge(raw, changes) if changes else raw
        raw = _override_queues(context, raw, name)
        pool: WorkPoolDeclaration | None = context.validate(
            WorkPoolDeclaration, raw, file, overridden=changes
        )
        if pool is None:
            context.mark_broken("work_pool", name)
            continue
        if not _claim(context, files, f"work pool:{pool.name}", file, "name"):
            continue
        before = len(context.collector.issues)
        unknown = pool.unknown_job_variables()
        for key in unknown:
            context.collector.add(
                file,
                join_field("job_variables", key),
                f"the {pool.type} worker's template has no variable {key!r}",
            )
        if not unknown:
            _check_template(context, file, pool, changes)
        if len(context.collector.issues) > before:
            context.mark_broken("work_pool", pool.name)
            continue
        pools.append(pool)
    return pools


def _check_template(
    context: LoadContext, file: str, pool: WorkPoolDeclaration, changes: dict[str, Any]
) -> None:
    overridden = set(changes.get("job_variables") or {})
    for field_name, message in template_problems(pool.type, pool.merged_base_job_template()):
        parts = field_name.split(".")
        if parts[:2] == ["variables", "properties"] and len(parts) > 2:
            if parts[2] in pool.job_variables:
                field_name = join_field("job_variables", *parts[2:3], *parts[4:])
                if parts[2] in overridden:
                    message = f"{message} (set by {context.overrides_source})"
            else:
                field_name = join_field("base_job_template", field_name)
        else:
            field_name = join_field("base_job_template", field_name)
        context.collector.add(file, field_name, message)


def _override_queues(context: LoadContext, raw: dict[str, Any], pool: Any) -> dict[str, Any]:
    queues = raw.get("queues")
    if not isinstance(pool, str) or not isinstance(queues, list):
        return raw
    updated = []
    for queue in queues:
        if isinstance(queue, dict) and isinstance(queue.get("name"), str):
            changes = context.override("queues", f"{pool}/{queue['name']}")
            queue = {**queue, **changes}
        updated.append(queue)
    return {**raw, "queues": updated}


def _load_list_file(
    context: LoadContext,
    filename: str,
    model: type[BaseModel],
    key: str,
    files: dict[str, str],
) -> list[Any]:
    path = context.root / filename
    if not path.exists():
        return []
    raw = read_mapping(context, path)
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
    kind = key.rstrip("s").replace("_", " ")
    declared: list[Any] = []
    for index, item in enumerate(getattr(document, key)):
        if _claim(context, files, f"{kind}:{item.name}", filename, join_field(key, index, "name")):
            declared.append(item)
    return declared


def _load_automations(
    context: LoadContext, files: dict[str, str]
) -> tuple[list[AutomationDeclaration], list[tuple[str, Reference]]]:
    automations: list[AutomationDeclaration] = []
    references: list[tuple[str, Reference]] = []
    for path in _yaml_files(context.root / AUTOMATIONS_DIR):
        file = context.relative(path)
        raw = read_mapping(context, path)
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
        if problems or not _claim(context, files, f"automation:{automation.name}", file, "name"):
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
    known: dict[str, set[str]] = {
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
                f"no {reference.kind.replace('_', ' ')} named {reference.name!r} "
                f"{where[reference.kind]}; declared: {choices}",
            )


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
