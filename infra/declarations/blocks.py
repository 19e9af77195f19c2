"""Blocks as code (`blocks/*.yaml`): one block document per file, its secrets from Pulumi config.

A file names the block type (its slug: Prefect's own notification blocks, or one from an
installed collection such as `sqlalchemy-connector`), the document's name, its plain `data`
and `secrets`: which fields take their value from the stack's Pulumi config secrets
(`prefect-platform:<key>`), never from the file. Validation reads the installed block class:
an unknown type or field, a value the class refuses, and a secret field written in the file
are errors naming the file and the field. See docs/blocks.md.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from fnmatch import fnmatchcase
from typing import Annotated, Any

from prefect.blocks.core import Block, UnknownBlockType
from pydantic import Field, JsonValue, ValidationError

from infra.declarations.base import UserModel
from infra.declarations.context import LoadContext, yaml_files
from infra.declarations.errors import join_field

BLOCKS_DIR = "blocks"

REF_KEY = "$ref"
"""`{"$ref": "<type slug>/<name>"}` as a field's value names another block document."""

ConfigKey = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description="A key of the stack's Pulumi config (namespace `prefect-platform`).",
    ),
]

_SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"


class BlockDeclaration(UserModel):
    """One block document, as declared in `blocks/<file>.yaml`."""

    type: str = Field(
        pattern=_SLUG,
        description="Block type slug, e.g. `custom-webhook`, `slack-webhook`, "
        "`sqlalchemy-connector` (`prefect block type ls` lists them).",
    )
    name: str = Field(
        pattern=_SLUG,
        description="Block document name: lowercase letters, digits and dashes.",
    )
    data: dict[str, JsonValue] = Field(
        default_factory=dict,
        description="The block's fields that are not secret. A field whose value is "
        "`{$ref: <type slug>/<name>}` points at another block document.",
    )
    secrets: dict[str, ConfigKey] = Field(
        default_factory=dict,
        description="Secret fields, as `<field path>: <Pulumi config key>`: the value is the "
        "stack's secret `prefect-platform:<key>` (`pulumi config set --secret`). Dotted paths "
        "reach nested fields, e.g. `connection_info.password`.",
    )

    @property
    def reference(self) -> str:
        """`<type slug>/<name>`, as automations and other blocks name it."""
        return f"{self.type}/{self.name}"

    def block_references(self) -> dict[str, str]:
        """The other block documents this one points at, by field."""
        found = {}
        for key, value in self.data.items():
            target = value.get(REF_KEY) if isinstance(value, dict) else None
            if isinstance(target, str):
                found[key] = target
        return found

    def provider_data(self, secret_values: Mapping[str, str]) -> dict[str, Any]:
        """The document's data for the block provider, with the secrets' values filled in."""
        data: dict[str, Any] = copy.deepcopy(self.data)
        for key, target in self.block_references().items():
            slug, _, name = target.partition("/")
            data[key] = {REF_KEY: {"block_type_slug": slug, "block_document_name": name}}
        for path, key in self.secrets.items():
            *parents, leaf = path.split(".")
            node = data
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = secret_values[key]
        return data


def load_blocks(
    context: LoadContext, platform_blocks: Iterable[str], known_secrets: Iterable[str] | None
) -> list[BlockDeclaration]:
    """Read and check every `blocks/*.yaml` file.

    Args:
        context: the load in progress (names claimed, problems collected).
        platform_blocks: `<slug>/<name>` of the blocks the program provisions (not declarable).
        known_secrets: the stack's config keys, when known; a secret naming another is an error.
    """
    blocks: list[BlockDeclaration] = []
    provisioned = set(platform_blocks)
    for path in yaml_files(context.root / BLOCKS_DIR):
        file = context.relative(path)
        raw = context.read_mapping(path)
        block: BlockDeclaration | None = (
            None if raw is None else context.validate(BlockDeclaration, raw, file)
        )
        if block is None:
            context.mark_broken("block_document", (raw or {}).get("name"))
            continue
        if block.reference in provisioned:
            context.collector.add(
                file, "name", f"block {block.reference!r} is provisioned by the platform"
            )
            continue
        if not context.claim(("block_document", block.reference), file, file, "name"):
            continue
        before = len(context.collector.issues)
        for field_name, message in block_problems(block, known_secrets):
            context.collector.add(file, field_name, message)
        if len(context.collector.issues) > before:
            context.mark_broken("block_document", block.reference)
            continue
        blocks.append(block)
    return blocks


def creation_order(blocks: Iterable[BlockDeclaration]) -> list[BlockDeclaration]:
    """Blocks with each one another names before it; those in a circle are left out."""
    pending = {block.reference: block for block in blocks}
    ordered: list[BlockDeclaration] = []
    while True:
        ready = [
            block
            for block in pending.values()
            if not set(block.block_references().values()) & set(pending)
        ]
        if not ready:
            return ordered
        for block in ready:
            ordered.append(pending.pop(block.reference))


def check_block_references(
    context: LoadContext, blocks: list[BlockDeclaration], platform_blocks: Iterable[str]
) -> None:
    """Every `$ref` names a declared or provisioned block, and blocks name no circle."""
    known = {block.reference for block in blocks} | set(platform_blocks)
    ordered = {block.reference for block in creation_order(blocks)}
    for block in blocks:
        if block.reference not in ordered:
            context.collector.add(
                context.files[("block_document", block.reference)],
                "data",
                "blocks name each other in a circle (through `$ref`), so none can be created "
                "first: "
                + ", ".join(sorted(b.reference for b in blocks if b.reference not in ordered)),
            )
    for block in blocks:
        file = context.files[("block_document", block.reference)]
        for key, target in block.block_references().items():
            if target not in known and not context.is_broken("block_document", target):
                choices = ", ".join(sorted(known)) or "none"
                context.collector.add(
                    file,
                    join_field("data", key, REF_KEY),
                    f"no block document named {target!r} in blocks/ or among the blocks the "
                    f"platform provisions; declared: {choices}",
                )


def block_problems(
    block: BlockDeclaration, known_secrets: Iterable[str] | None
) -> list[tuple[str, str]]:
    """What the installed block class says about the declaration: `(field, message)` pairs."""
    cls = block_class(block.type)
    if cls is None:
        return [
            (
                "type",
                f"no block type {block.type!r} is installed; install the collection that "
                "defines it (e.g. prefect-sqlalchemy) or use one of: "
                + ", ".join(sorted(_installed_slugs())),
            )
        ]
    secret_fields = cls.model_json_schema().get("secret_fields", [])
    problems = [
        (join_field("data", path), "is a secret field: take it from Pulumi config in `secrets`")
        for path in _paths(block.data)
        if _is_secret(path, secret_fields)
    ]
    fields = set(cls.model_fields)
    for path, key in block.secrets.items():
        if path.split(".")[0] not in fields:
            problems.append((join_field("secrets", path), f"{cls.__name__} has no such field"))
        elif known_secrets is not None and key not in set(known_secrets):
            problems.append(
                (
                    join_field("secrets", path),
                    f"the stack has no config secret 'prefect-platform:{key}'; set it with "
                    f"`pulumi config set --secret prefect-platform:{key} <value>`",
                )
            )
    return problems + _value_problems(block, cls)


def _value_problems(block: BlockDeclaration, cls: type[Block]) -> list[tuple[str, str]]:
    """Validate the data with the class, a placeholder standing in for each secret."""
    references = block.block_references()
    problems = [
        (join_field("data", key), f"{cls.__name__} has no such field")
        for key in block.data
        if key not in cls.model_fields
    ]
    candidate = block.provider_data(dict.fromkeys(block.secrets.values(), "placeholder"))
    for key in references:
        candidate.pop(key)
    try:
        with _quiet():  # a class may log about the placeholder (apprise: "Unsupported URL")
            cls.model_validate(candidate)
    except ValidationError as error:
        found: dict[str, str] = {}
        for item in error.errors():
            # Union members show as parts like `ConnectionComponents` or `function-after[...]`.
            path = ".".join(
                str(part)
                for part in item["loc"]
                if isinstance(part, int) or (str(part)[:1].islower() and "[" not in str(part))
            )
            if path.split(".")[0] in references or path.split(".")[0] not in cls.model_fields:
                continue  # a referenced block is checked where it is declared
            found.setdefault(path, item["msg"])
        for path, message in found.items():
            if any(other.startswith(f"{path}.") for other in found):
                continue  # a union's other member failed too: report the deeper problem
            where = "secrets" if path in block.secrets else "data"
            problems.append((f"{where}.{path}" if path else where, message))
    return problems


@contextmanager
def _quiet() -> Iterator[None]:
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def block_class(slug: str) -> type[Block] | None:
    """The installed block class of a type slug (collections are loaded on first use)."""
    try:
        return Block.get_block_class_from_key(slug)
    except UnknownBlockType:
        return None


def _installed_slugs() -> list[str]:
    from prefect.utilities.dispatch import get_registry_for_type

    return list(get_registry_for_type(Block) or {})


def _paths(value: Mapping[str, Any], prefix: str = "") -> Iterable[str]:
    """Every field path of a nested mapping (`a`, `a.b`, ...)."""
    for key, item in value.items():
        path = f"{prefix}{key}"
        yield path
        if isinstance(item, Mapping) and REF_KEY not in item:
            yield from _paths(item, f"{path}.")


def _is_secret(path: str, secret_fields: Iterable[str]) -> bool:
    """Whether a field path is one of the class's secret fields (`secrets.*` style patterns)."""
    return any(fnmatchcase(path, pattern) for pattern in secret_fields)
