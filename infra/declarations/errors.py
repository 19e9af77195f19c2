"""Errors found in declarations: each names the file, the field and what was expected."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError


@dataclass(frozen=True)
class Issue:
    """One problem in one declaration file."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"


class DeclarationError(Exception):
    """Every problem found in the declarations, raised once after checking them all."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        count = len(self.issues)
        header = f"{count} problem{'s' if count != 1 else ''} in the declarations:"
        super().__init__("\n".join([header, *(f"  {issue}" for issue in self.issues)]))


def join_field(*parts: str | int) -> str:
    """Join path parts into a dotted field name (``queues[1].priority``)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "":
            text += f".{part}" if text else part
    return text


@dataclass
class Collector:
    """Collects issues across all files so one run reports all of them."""

    issues: list[Issue] = field(default_factory=list)

    def add(self, file: str, field_name: str, message: str) -> None:
        """Record one problem."""
        self.issues.append(Issue(file, field_name, message))

    def add_validation_error(
        self, file: str, error: ValidationError, prefix: Iterable[str | int] = ()
    ) -> None:
        """Record each error of a pydantic ValidationError, under a field prefix."""
        base = list(prefix)
        by_field: dict[str, list[str]] = {}
        for detail in error.errors(include_url=False):
            location = [part for part in detail["loc"] if not is_union_tag(part)]
            message = detail["msg"].removeprefix("Value error, ")
            if detail["type"] == "extra_forbidden":
                message = "unknown field (not allowed here; check the spelling)"
            elif detail["type"] == "missing":
                message = "required field is missing"
            messages = by_field.setdefault(join_field(*base, *location), [])
            if message not in messages:
                messages.append(message)
        for field_name, messages in by_field.items():
            # A value that fits no member of a union gets one message per member: join them.
            self.add(file, field_name, " or ".join(messages))

    def raise_if_any(self) -> None:
        """Raise DeclarationError if anything was collected."""
        if self.issues:
            raise DeclarationError(self.issues)


def is_union_tag(part: str | int) -> bool:
    """Pydantic puts union member names and function tags into error locations; drop them."""
    if isinstance(part, int):
        return False
    return part[:1].isupper() or part.startswith("function-") or part in _TAGS or "[" in part


#: Names pydantic puts in error locations for union members and tagged unions.
_TAGS = {
    "known",
    "unknown",
    "event",
    "compound",
    "sequence",
    "metric",
    "str",
    "int",
    "float",
    "bool",
    "list",
    "dict",
    "none",
    "json-or-python",
}
