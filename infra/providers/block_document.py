"""Block documents (credentials, buckets, secrets) as Pulumi resources.

In place: data (one PATCH replacing it). Replaced: name, block_type_slug.
The data may hold secrets: it is sent to Prefect but never stored in the
outs; they keep a sha256 fingerprint of it so a changed value shows as a diff.
A block type missing on the server is registered from its installed Python
class (e.g. ``s3-bucket`` from prefect-aws). A field given as
``{"$ref": {"block_document_name": ..., "block_type_slug": ...}}`` points at
another block document and is resolved to its id at apply time.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

import pulumi
from prefect.blocks.core import Block, UnknownBlockType
from pulumi.dynamic import Resource

from infra.contracts import BlockDocumentInputs

from ._base import PROVIDER_VERSION, PrefectProvider
from .client import (
    Connection,
    PrefectApi,
    PrefectApiError,
    PrefectConflictError,
    PrefectProviderError,
)

CREATE_ATTEMPTS = 3
"""Tries of a block document's create that meets a transient 409 (see `_create`)."""


def fingerprint(props: dict[str, Any]) -> str:
    """sha256 of the document's identity and data, to detect changes without storing them."""
    payload = json.dumps(
        [props["block_type_slug"], props["name"], props["data"]], sort_keys=True, default=str
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def _block_class(slug: str) -> type[Block] | None:
    try:
        return Block.get_block_class_from_key(slug)
    except UnknownBlockType:  # not installed here: the server may still know the type
        return None


def _register(api: PrefectApi, cls: type[Block]) -> tuple[str, str]:
    """Register a block class's type and schema (and nested ones); return their ids."""
    for field in cls.model_fields.values():
        if isinstance(field.annotation, type) and Block.is_block_class(field.annotation):
            _register(api, field.annotation)
    slug = cls.get_block_type_slug()
    block_type = api.call("GET", f"/block_types/slug/{slug}", missing_ok=True)
    if block_type is None:
        fields = {"name", "slug", "logo_url", "documentation_url", "description", "code_example"}
        body = cls._to_block_type().model_dump(mode="json", include=fields)
        block_type = api.call("POST", "/block_types/", json=body)
    checksum = cls._calculate_schema_checksum()
    params = {"version": cls.get_block_schema_version()}
    schema = api.call("GET", f"/block_schemas/checksum/{checksum}", params=params, missing_ok=True)
    if schema is None:
        include = {"fields", "block_type_id", "capabilities", "version"}
        body = cls._to_block_schema(block_type_id=block_type["id"]).model_dump(
            mode="json", include=include
        )
        schema = api.call("POST", "/block_schemas/", json=body)
    return str(block_type["id"]), str(schema["id"])


def _type_and_schema(api: PrefectApi, slug: str) -> tuple[str, str]:
    """Ids of the block type and the schema to use, registering them if needed."""
    cls = _block_class(slug)
    if cls is not None:
        return _register(api, cls)
    block_type = api.call("GET", f"/block_types/slug/{slug}", missing_ok=True)
    body = {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}, "limit": 1}
    schemas = api.call("POST", "/block_schemas/filter", json=body) if block_type else []
    if not schemas:
        raise PrefectProviderError(
            f"{api.what}: block type {slug!r} is neither on the server nor installed here "
            "(install the collection that defines it, e.g. prefect-aws)"
        )
    return str(block_type["id"]), str(schemas[0]["id"])


def _resolve_refs(api: PrefectApi, value: Any, where: str = "data") -> Any:
    """Replace name references to other block documents with their ids."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, dict) and "block_document_name" in ref:
            slug, name = ref.get("block_type_slug"), ref["block_document_name"]
            path = f"/block_types/slug/{slug}/block_documents/name/{name}"
            found = api.call("GET", path, missing_ok=True)
            if found is None:
                raise PrefectProviderError(
                    f"{api.what}: {where} refers to block document '{slug}/{name}', "
                    f"which does not exist on {api.api_url}"
                )
            return {"$ref": {"block_document_id": found["id"]}}
        return {k: _resolve_refs(api, v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(api, v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


class BlockDocumentProvider(PrefectProvider[BlockDocumentInputs]):
    """Creates, updates (PATCH), reads and deletes one block document."""

    kind = "block document"
    Inputs = BlockDocumentInputs
    replace_fields = ("name", "block_type_slug")

    def describe(self, props: dict[str, Any]) -> str:
        """Name the document as ``slug/name``."""
        return f"block document '{props.get('block_type_slug')}/{props.get('name')}'"

    def identity_fields(self) -> tuple[str, ...]:
        """A document is identified by its type and name."""
        return ("block_type_slug", "name")

    def outs(self, canonical: dict[str, Any]) -> dict[str, Any]:
        """Identity and a fingerprint of the data; never the data itself."""
        return {
            "name": canonical["name"],
            "block_type_slug": canonical["block_type_slug"],
            "data_sha256": fingerprint(canonical),
            "provider_version": PROVIDER_VERSION,
        }

    def _create(self, api: PrefectApi, inputs: BlockDocumentInputs) -> str:
        slug, name = inputs.block_type_slug, inputs.name
        block_type_id, schema_id = _type_and_schema(api, slug)
        path = f"/block_types/slug/{slug}/block_documents/name/{name}"
        if api.call("GET", path, missing_ok=True) is not None:
            raise PrefectConflictError(
                f"block document '{slug}/{name}' already exists on {api.api_url} and was not "
                "created by this stack; delete it or import it into the stack first"
            )
        body = {
            "name": name,
            "data": _resolve_refs(api, inputs.dump()["data"]),
            "block_type_id": block_type_id,
            "block_schema_id": schema_id,
        }
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return str(api.call("POST", "/block_documents/", json=body)["id"])
            except PrefectApiError as exc:
                # A fresh server makes its encryption key with the first block document; two
                # first documents at once race for it (Prefect 3.9.1 on PostgreSQL: a unique
                # violation on `configuration.key`, answered 409). The name is still free
                # then, and the next attempt finds the key made.
                taken = api.call("GET", path, missing_ok=True) is not None
                if exc.status_code != 409 or taken or attempt == CREATE_ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def _update(
        self, api: PrefectApi, id_: str, olds: dict[str, Any], inputs: BlockDocumentInputs
    ) -> None:
        _, schema_id = _type_and_schema(api, inputs.block_type_slug)
        body = {
            "data": _resolve_refs(api, inputs.dump()["data"]),
            "block_schema_id": schema_id,
            "merge_existing_data": False,
        }
        api.call("PATCH", f"/block_documents/{id_}", json=body)

    def _delete(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> None:
        api.call("DELETE", f"/block_documents/{id_}", missing_ok=True)

    def _read(self, api: PrefectApi, id_: str, props: dict[str, Any]) -> BlockDocumentInputs | None:
        found = api.call(
            "GET", f"/block_documents/{id_}", params={"include_secrets": True}, missing_ok=True
        )
        if found is None:
            return None
        data = dict(found["data"])
        for key, reference in (found.get("block_document_references") or {}).items():
            document = reference["block_document"]
            data[key] = {
                "$ref": {
                    "block_document_name": document["name"],
                    "block_type_slug": document["block_type"]["slug"],
                }
            }
        return BlockDocumentInputs(
            name=found["name"], block_type_slug=found["block_type"]["slug"], data=data
        )


class BlockDocument(Resource, module="prefect", name="BlockDocument"):
    """A Prefect block document managed by Pulumi."""

    def __init__(
        self,
        name: str,
        *,
        document_name: str,
        block_type_slug: str,
        data: pulumi.Input[Mapping[str, Any]],
        connection: pulumi.Input[Connection],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Declare the document `block_type_slug/document_name` as the Pulumi resource `name`.

        `data` may hold Pulumi secrets (and is stored as one): it cannot be a
        `BlockDocumentInputs` until the engine resolves it, in the provider.
        """
        props = {
            "name": document_name,
            "block_type_slug": block_type_slug,
            "data": pulumi.Output.secret(data),
            "connection": connection,
            "provider_version": PROVIDER_VERSION,
        }
        # The fingerprint of secret data is kept encrypted too: a short secret's plain sha256
        # could be recovered from the state by brute force.
        secret_outs = pulumi.ResourceOptions(additional_secret_outputs=["data_sha256"])
        opts = pulumi.ResourceOptions.merge(opts, secret_outs)
        super().__init__(BlockDocumentProvider(connection), name, props, opts)
