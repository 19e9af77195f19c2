"""The state of one load: files read, names claimed, problems so far, overrides used.

Every loader (`pool_loader`, `deployment_loader`, `loader`) works on one `LoadContext`, so a
duplicate name, a broken declaration or an unused override is seen across all files. Objects
are keyed by a typed `(kind, name)` pair, never a formatted string.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from infra.declarations.errors import Collector
from infra.declarations.overrides import Overrides, changed_fields
from infra.declarations.yaml_io import YamlError, read_yaml
from infra.references import ReferenceKind

ObjectKind = ReferenceKind | Literal["concurrency_limit", "variable"]
"""Every kind of object a declaration names (work queues as `<pool>/<queue>`)."""

ObjectKey = tuple[ObjectKind, str]
"""An object's identity: its kind and its name (`<flow>/<deployment>` for deployments)."""

KIND_LABELS: dict[ObjectKind, str] = {
    "work_pool": "work pool",
    "work_queue": "work queue",
    "concurrency_limit": "concurrency limit",
    "variable": "variable",
    "automation": "automation",
    "deployment": "deployment",
    "block_document": "block document",
}
"""How messages name each kind."""

ANY_NAME = "*"
"""Marks a kind broken as a whole (a file failed before its name could be read)."""


@dataclass
class LoadContext:
    """State of one load: where files are, problems so far, overrides and their use."""

    root: Path
    collector: Collector
    overrides: Overrides
    overrides_source: str
    files: dict[ObjectKey, str] = field(default_factory=dict)
    """Where each object was declared (`file`, or `file#deployments[i]`)."""
    used_overrides: set[tuple[str, str]] = field(default_factory=set)
    broken: dict[ObjectKind, set[str]] = field(default_factory=dict)
    broken_deployment_names: set[str] = field(default_factory=set)
    """Deployment names of entries that failed before their flow's name was known."""

    def mark_broken(self, kind: ObjectKind, name: Any) -> None:
        """Remember a declaration that failed (name unknown: the whole kind), to avoid
        follow-on errors in what references it."""
        self.broken.setdefault(kind, set()).add(name if isinstance(name, str) else ANY_NAME)

    def is_broken(self, kind: ObjectKind, name: str) -> bool:
        """Whether a reference points at a declaration that already failed validation."""
        names = self.broken.get(kind, set())
        if ANY_NAME in names or name in names:
            return True
        if kind == "work_queue":
            return self.is_broken("work_pool", name.split("/", 1)[0])
        if kind == "deployment":
            return name.split("/", 1)[-1] in self.broken_deployment_names
        return False

    def claim(self, key: ObjectKey, where: str, file: str, field_name: str) -> bool:
        """Record that `where` declares `key`; a second declaration is an error (False)."""
        kind, name = key
        if key in self.files:
            if kind == "deployment":
                what = f"deployment {name!r}"
            else:
                self.mark_broken(kind, name)
                what = f"{KIND_LABELS[kind]} name {name!r}"
            self.collector.add(
                file, field_name, f"duplicate {what}: already declared in {self.files[key]}"
            )
            return False
        self.files[key] = where
        return True

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

    def read_mapping(self, path: Path) -> dict[str, Any] | None:
        """Read a YAML file that must hold a mapping; record a problem and return None if not."""
        file = self.relative(path)
        try:
            document = read_yaml(path)
        except (YamlError, OSError, UnicodeDecodeError) as error:
            self.collector.add(file, "", str(error))
            return None
        if not isinstance(document, dict):
            kind = "an empty file" if document is None else f"a {type(document).__name__}"
            self.collector.add(file, "", f"expected a mapping of fields, got {kind}")
            return None
        return document


def yaml_files(directory: Path) -> list[Path]:
    """The `*.yaml` and `*.yml` files of a folder, sorted (none if it does not exist)."""
    if not directory.is_dir():
        return []
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
