"""Pulumi's engine, stood in for: dynamic resources go to their real providers.

`ForwardingMocks` is a Pulumi mock whose `new_resource` does what the engine does
with a dynamic resource: it unpickles the provider the program serialized, and,
against the state of the previous run, calls ``check`` then ``create`` (new) or
``diff`` and ``update`` / replace (known). `finish()` deletes what the program no
longer declares, in reverse order of creation, as `pulumi up` does. Every other
resource (Kubernetes, Docker, random) gets the recording mocks' canned outputs.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill  # type: ignore[import-untyped]
import httpx
import pulumi
from pulumi.runtime._serialization import _deserialize

from infra.providers.client import REQUEST_HOOKS
from infra.providers.listing import LISTINGS
from tests.harness.live_server import LiveServer
from tests.harness.mockstack import RecordingMocks, run_stack, unwrap_secrets
from tests.harness.s3 import S3Server

DYNAMIC_PREFIX = "pulumi-python:dynamic"
PROVIDER_KEY = "__provider"


@dataclass
class Managed:
    """One dynamic resource in the stack's state."""

    id: str
    outs: dict[str, Any]
    provider: Any


@dataclass
class Operations:
    """What the engine did in one run, by resource name."""

    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)
    """Resource name -> the fields the update changed."""
    replaced: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    write_requests: list[str] = field(default_factory=list)
    """Every non-read request the providers sent (method and path)."""

    @property
    def writes(self) -> int:
        """How many resources this run wrote to (created, updated, replaced, deleted)."""
        return len(self.created) + len(self.updated) + len(self.replaced) + len(self.deleted)


@dataclass
class Refreshed:
    """What one `pulumi refresh` found, by resource name."""

    drifted: dict[str, list[str]] = field(default_factory=dict)
    """Resource name -> the fields whose server value differs from the state."""
    gone: list[str] = field(default_factory=list)
    """Resources no longer on the server (dropped from the state)."""
    requests: list[str] = field(default_factory=list)
    """Every request the reads sent (method and path)."""


class ForwardingMocks(RecordingMocks):
    """Mocks that keep a stack state and forward dynamic resources to their providers."""

    def __init__(self) -> None:
        self.state: dict[str, Managed] = {}
        self.ops = Operations()
        self._seen: set[str] = set()

    def begin(self) -> Operations:
        """Start a new `pulumi up` over the same state (a new provider process: no listings)."""
        LISTINGS.clear()
        self.ops = Operations()
        self._seen = set()
        return self.ops

    def refresh(self, parallel: int = 10) -> Refreshed:
        """`pulumi refresh`: read every resource, `parallel` at a time as the engine does.

        The state takes what the server reports; `Refreshed` says what drifted or is gone.
        """
        LISTINGS.clear()
        requests: list[str] = []

        def count(request: httpx.Request) -> None:
            requests.append(f"{request.method} {request.url.path}")

        def read(key: str) -> tuple[str, Any]:
            managed = self.state[key]
            return key, managed.provider.read(managed.id, managed.outs)

        refreshed = Refreshed()
        REQUEST_HOOKS.append(count)
        try:
            with ThreadPoolExecutor(parallel) as pool:
                results = list(pool.map(read, list(self.state)))
        finally:
            REQUEST_HOOKS.remove(count)
        for key, result in results:
            managed = self.state[key]
            if result.id is None:
                refreshed.gone.append(key)
                del self.state[key]
                continue
            outs = dict(result.outs or {})
            fields = sorted(
                k for k in outs if k != "provider_version" and outs[k] != managed.outs.get(k)
            )
            if fields:
                refreshed.drifted[key] = fields
            managed.outs = outs
        refreshed.requests = requests
        return refreshed

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        """Create, update, replace or keep one resource, as the engine would."""
        if not args.typ.startswith(DYNAMIC_PREFIX):
            return super().new_resource(args)
        key = args.name  # unique within the program (names derive from object names)
        self._seen.add(key)
        inputs = unwrap_secrets(dict(args.inputs))
        serialized = inputs.pop(PROVIDER_KEY)
        # As the provider process does: captured Outputs (the connection) unpickle to values.
        provider = _deserialize(lambda: dill.loads(base64.b64decode(serialized)))
        old = self.state.get(key)
        checked = provider.check(old.outs if old else {}, inputs)
        if checked.failures:
            problems = "; ".join(f"{f.property}: {f.reason}" for f in checked.failures)
            raise ValueError(f"{args.name}: {problems}")
        news = checked.inputs
        if old is None:
            result = provider.create(news)
            self.state[key] = Managed(result.id, dict(result.outs or {}), provider)
            self.ops.created.append(args.name)
        else:
            diff = provider.diff(old.id, old.outs, news)
            if not diff.changes:
                self.ops.unchanged.append(args.name)
            elif diff.replaces:
                if diff.delete_before_replace:
                    old.provider.delete(old.id, old.outs)
                result = provider.create(news)
                if not diff.delete_before_replace:
                    old.provider.delete(old.id, old.outs)
                self.state[key] = Managed(result.id, dict(result.outs or {}), provider)
                self.ops.replaced.append(args.name)
            else:
                fields = provider.changed_fields(old.outs, news)
                updated = provider.update(old.id, old.outs, news)
                self.state[key] = Managed(old.id, dict(updated.outs or {}), provider)
                self.ops.updated[args.name] = fields
        current = self.state[key]
        return current.id, current.outs

    def finish(self) -> Operations:
        """Delete every resource the run did not declare (newest first)."""
        for key in reversed(list(self.state)):
            if key not in self._seen:
                gone = self.state.pop(key)
                gone.provider.delete(gone.id, gone.outs)
                self.ops.deleted.append(key)
        return self.ops


def external_stack(
    server: LiveServer, s3: S3Server, bucket: str | None = None, **secrets: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Config and secrets of an `external` stack on the harness's server and S3 server.

    `bucket` is the stack's results bucket (default: the S3 server's own); `secrets` adds
    others (e.g. `githubToken`).
    """
    config = {
        "target": "external",
        "apiUrl": server.api_url,
        "externalObjectStore": {"endpointUrl": s3.endpoint_url, "buckets": [bucket or s3.bucket]},
    }
    stack_secrets = {
        "authString": server.auth_string,
        "s3AccessKey": s3.access_key,
        "s3SecretKey": s3.secret_key,
        **secrets,
    }
    return config, stack_secrets


def apply_program(
    mocks: ForwardingMocks, config: dict[str, Any], secrets: dict[str, str], root: Path
) -> Operations:
    """One `pulumi up` of the real program (`external` target) over the declarations in `root`.

    `Operations.write_requests` lists every write request the providers sent.
    """
    from infra import program

    writes: list[str] = []

    def count(request: httpx.Request) -> None:
        if request.method != "GET" and not request.url.path.endswith("/filter"):
            writes.append(f"{request.method} {request.url.path}")

    ops = mocks.begin()
    REQUEST_HOOKS.append(count)
    try:
        run_stack("external", config, secrets, mocks=mocks, program_main=lambda: program.main(root))
        mocks.finish()
    finally:
        REQUEST_HOOKS.remove(count)
        ops.write_requests = writes
    return ops


def destroy(mocks: ForwardingMocks) -> Operations:
    """`pulumi destroy`: delete everything in the state, newest first."""
    mocks.begin()
    return mocks.finish()
