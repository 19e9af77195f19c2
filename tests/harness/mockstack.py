"""Run the real Pulumi program of one stack under Pulumi's mock engine and record everything.

Only Pulumi's engine is mocked: the program, its config parsing, its components and the
serialization of every input (secret markers included) are the real ones. The recording monitor
keeps each RegisterResource request as the engine would receive it: type, name, parent,
`protect`, `retainOnDelete`, the raw serialized inputs (where secrets are still wrapped) and the
stack outputs.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

REPO = Path(__file__).resolve().parents[2]
PROJECT = "prefect-platform"
SECRET_PREFIX = "SENTINEL-SECRET-"
"""Every generated password and every configured secret in a mocked run starts with this."""


@dataclass
class Registration:
    """One resource as the engine received it."""

    type: str
    name: str
    parent: str
    protect: bool
    retain_on_delete: bool
    raw: dict[str, Any]
    inputs: dict[str, Any]
    additional_secret_outputs: list[str]
    delete_before_replace: bool = False
    dependencies: list[str] = field(default_factory=list)
    """URNs of the resources it depends on (`depends_on` and those its inputs come from)."""


@dataclass
class StackRun:
    """Everything one mocked `pulumi up` declared."""

    stack: str
    resources: list[Registration] = field(default_factory=list)
    stack_outputs_raw: dict[str, Any] = field(default_factory=dict)
    secret_values: set[str] = field(default_factory=set)
    platform: Any = None

    def of_type(self, type_: str) -> list[Registration]:
        """Resources of one type token."""
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registration:
        """The resource with this logical name."""
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, f"{len(matches)} resources named {name!r}"
        return matches[0]

    def helm_releases(self) -> list[Registration]:
        """The Helm releases."""
        return self.of_type("kubernetes:helm.sh/v3:Release")

    def kubernetes_manifests(self) -> list[dict[str, Any]]:
        """Inputs of every raw Kubernetes object (not Helm releases), as manifests."""
        manifests = []
        for resource in self.resources:
            if resource.type.startswith("kubernetes:") and "helm.sh" not in resource.type:
                manifests.append(
                    {k: v for k, v in resource.inputs.items() if not k.startswith("__")}
                )
        return manifests


class RecordingMocks(pulumi.runtime.Mocks):
    """Canned outputs for cloud resources (generated passwords are recognisable secrets)."""

    run: StackRun

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            value = f"{SECRET_PREFIX}{args.name}-{secrets.token_hex(4)}"
            self.run.secret_values.add(value)
            outputs["result"] = value
        if args.typ == "kubernetes:helm.sh/v3:Release":
            outputs["status"] = {"status": "deployed", "name": args.inputs.get("name")}
        if args.typ == "docker:index/remoteImage:RemoteImage":
            outputs["imageId"] = f"sha256:{args.name}"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


class _Monitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.run = mocks.run

    def RegisterResource(self, request: Any) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            raw = json_format.MessageToDict(request.object)
            from pulumi.runtime import rpc

            inputs = unwrap_secrets(_sync_await(_deserialize(rpc, request.object)))
            self.run.resources.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    raw=raw,
                    inputs=inputs,
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    dependencies=list(request.dependencies),
                )
            )
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if request.urn.split("::")[2] == "pulumi:pulumi:Stack":
            self.run.stack_outputs_raw = json_format.MessageToDict(request.outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


async def _deserialize(rpc: Any, struct: Any) -> dict[str, Any]:
    result: dict[str, Any] = rpc.deserialize_properties(struct)
    return result


def stack_config(stack: str) -> dict[str, Any]:
    """The `prefect-platform:` values of `Pulumi.<stack>.yaml` (keys without the namespace)."""
    document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
    return {
        key.removeprefix(f"{PROJECT}:"): value
        for key, value in document["config"].items()
        if key.startswith(f"{PROJECT}:")
    }


def declared_secrets(root: Path = REPO) -> dict[str, str]:
    """A made-up value for each config secret the declarations under `root` name (blocks/,
    webhooks/), as a stack that sets them has."""
    from infra.declarations import load_declarations

    return {key: f"test-secret-{key}" for key in load_declarations(root).secret_keys()}


def run_stack(
    stack: str,
    config: Mapping[str, Any],
    secret_config: Mapping[str, str] | None = None,
    pools: Sequence[Any] | None = None,
    run: StackRun | None = None,
    *,
    mocks: RecordingMocks | None = None,
    program_main: Callable[[], Any] | None = None,
) -> StackRun:
    """Run `infra.program` for `stack` with this config under mocks; return what it declared.

    Pass `run` to keep the record when the program raises (to see what was declared before).
    By default only the platform part of the program runs; `program_main` runs another body
    (e.g. the whole `program.main`), `mocks` stands in for the engine's resource operations.
    """
    from infra import program
    from infra.config_loader import load_config

    _ensure_event_loop()
    run = run if run is not None else StackRun(stack=stack)
    mocks = mocks if mocks is not None else RecordingMocks()
    mocks.run = run
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=False, monitor=_Monitor(mocks)
    )
    pulumi_settings.ROOT.set(None)
    values = {
        f"{PROJECT}:{key}": value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
    }
    for key, value in (secret_config or {}).items():
        run.secret_values.add(value)
        values[f"{PROJECT}:{key}"] = value
    set_all_config(values, [f"{PROJECT}:{key}" for key in secret_config or {}])

    def body() -> None:
        if program_main is not None:
            run.platform = program_main()
            return
        # The platform part of `program.main` (the Prefect objects are tests/program's).
        run.platform = program.build_platform(load_config(), stack, pools)
        program.export_outputs(run.platform)

    try:
        _sync_await(run_in_stack(body))
    finally:
        set_all_config({}, [])
        pulumi_settings.ROOT.set(None)
    return run


def _ensure_event_loop() -> None:
    """Pulumi's runtime needs a current event loop; an earlier `asyncio.run` leaves none."""
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


def copy_repo_files(target: Path, names: Sequence[str]) -> Path:
    """Copy these top-level files and folders of the repository to `target` (for editing)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return target


def unwrap_secrets(value: Any) -> Any:
    """The same tree with every secret marker replaced by its value (what the provider gets)."""
    if isinstance(value, dict):
        if value.get(_special_sig_key) == _special_secret_sig:
            return unwrap_secrets(value.get("value"))
        return {key: unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(item) for item in value]
    return value


def strings_outside_secrets(value: Any, inside_secret: bool = False) -> Iterator[str]:
    """Every string in a serialized property tree that is not wrapped as a Pulumi secret."""
    if isinstance(value, dict):
        secret = value.get(_special_sig_key) == _special_secret_sig
        for item in value.values():
            yield from strings_outside_secrets(item, inside_secret or secret)
    elif isinstance(value, list):
        for item in value:
            yield from strings_outside_secrets(item, inside_secret)
    elif isinstance(value, str) and not inside_secret:
        yield value
