"""The Prefect objects of one stack: every declaration in the repository, applied to its server.

`PrefectObjects` turns validated `Declarations` (pools, queues, concurrency limits,
variables, automations, deployments) and the platform's own blocks into the dynamic
provider resources of `infra/providers/`, with the dependencies that let one
`pulumi up` create them in a working order: queues after their pool, deployments
after their pool, queue and blocks, automations after the objects their actions name.
Resource names derive from object names, never list positions, so reordering files
replaces nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.declarations import AutomationDeclaration, Declarations
from infra.platform_types import S3Access
from infra.providers import (
    Automation,
    BlockDocument,
    Connection,
    Deployment,
    GlobalConcurrencyLimit,
    Variable,
    WorkPool,
    WorkQueue,
)
from infra.references import ReferenceKind


@dataclass(frozen=True)
class BlockSpec:
    """A block document the program provisions (object-store credentials, bucket, tokens)."""

    block_type_slug: str
    """Block type, e.g. `minio-credentials`."""
    name: str
    """Block document name, e.g. `object-store`."""
    data: pulumi.Input[Mapping[str, Any]]
    """The block's fields; secret values come in as Pulumi secrets."""
    depends_on: Sequence[str] = ()
    """`<slug>/<name>` of blocks this one references with `$ref`."""

    @property
    def reference(self) -> str:
        """`<slug>/<name>`, as automations and other blocks name it."""
        return f"{self.block_type_slug}/{self.name}"


@dataclass(frozen=True)
class PrefectObjectsArgs:
    """Inputs of `PrefectObjects`."""

    declarations: Declarations
    """Everything declared in the repository, already validated (`load_declarations`)."""
    connection: pulumi.Input[Connection]
    """API URL and auth string of the server; passed to every resource as a Pulumi secret."""
    blocks: Sequence[BlockSpec] = field(default_factory=tuple)
    """The platform's own blocks (see `platform_blocks`)."""


class PrefectObjects(pulumi.ComponentResource):
    """Every Prefect object of a stack, one dynamic resource per object."""

    counts: pulumi.Output[dict[str, int]]
    work_pools: dict[str, WorkPool]
    """The resource owning each declared work pool, by name (workers wait for theirs)."""

    def __init__(
        self, name: str, args: PrefectObjectsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("prefect-platform:objects:PrefectObjects", name, None, opts)
        declared = args.declarations
        connection = pulumi.Output.secret(args.connection)

        def child(*depends_on: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(depends_on))

        pools = {
            pool.name: WorkPool(f"pool-{pool.name}", pool.provider_inputs(), connection, child())
            for pool in declared.work_pools
        }
        self.work_pools = pools
        queues = {
            (queue.pool, queue.name): WorkQueue(
                f"queue-{queue.pool}-{queue.name}",
                queue.provider_inputs(),
                connection,
                child(pools[queue.pool]),
            )
            for queue in declared.work_queues
        }
        limits = [
            GlobalConcurrencyLimit(
                f"limit-{limit.name}", limit.provider_inputs(), connection, child()
            )
            for limit in declared.concurrency_limits
        ]
        variables = [
            Variable(f"variable-{variable.name}", variable.provider_inputs(), connection, child())
            for variable in declared.variables
        ]
        blocks: dict[str, BlockDocument] = {}
        for block in args.blocks:
            blocks[block.reference] = BlockDocument(
                f"block-{block.block_type_slug}-{block.name}",
                document_name=block.name,
                block_type_slug=block.block_type_slug,
                data=block.data,
                connection=connection,
                opts=child(*(blocks[ref] for ref in block.depends_on)),
            )
        deployments: dict[str, Deployment] = {}
        for deployment in declared.deployments:
            inputs = deployment.provider_inputs()
            needs: list[pulumi.Resource] = [pools[inputs.work_pool_name], *blocks.values()]
            queue = queues.get((inputs.work_pool_name, inputs.work_queue_name or ""))
            if queue is not None:
                needs.append(queue)
            deployments[f"{inputs.flow_name}/{inputs.name}"] = Deployment(
                f"deployment-{inputs.flow_name}-{inputs.name}",
                inputs,
                connection,
                child(*needs),
            )
        # An automation's actions name pools, queues, deployments, blocks or automations
        # (resolved to ids at apply time): the ones this stack declares are created before and
        # deleted after it. Only those: depending on every object would give each automation
        # (in memory and in the state) a dependency list as long as the stack.
        referable: dict[ReferenceKind, Mapping[str, pulumi.Resource]] = {
            "work_pool": pools,
            "work_queue": {f"{pool}/{queue}": q for (pool, queue), q in queues.items()},
            "deployment": deployments,
            "block_document": blocks,
        }
        automations: dict[str, Automation] = {}
        referable["automation"] = automations
        for automation in dependency_order(declared.automations):
            named = [
                referable[kind][name]
                for kind, name in automation.named_objects()
                if name in referable[kind]
            ]
            automations[automation.name] = Automation(
                f"automation-{automation.name}",
                automation.provider_inputs(),
                connection,
                child(*named),
            )
        self.counts = pulumi.Output.from_input(
            {
                "work_pools": len(pools),
                "work_queues": len(queues),
                "concurrency_limits": len(limits),
                "variables": len(variables),
                "blocks": len(blocks),
                "deployments": len(deployments),
                "automations": len(automations),
            }
        )
        self.register_outputs({"counts": self.counts})


def dependency_order(automations: Sequence[AutomationDeclaration]) -> list[AutomationDeclaration]:
    """Automations with every automation one names before it (the loader refused circles)."""
    by_name = {automation.name: automation for automation in automations}
    ordered: dict[str, AutomationDeclaration] = {}

    visiting: set[str] = set()

    def visit(automation: AutomationDeclaration) -> None:
        if automation.name in ordered or automation.name in visiting:
            return
        visiting.add(automation.name)
        for name in automation.named_automations():
            if name in by_name:
                visit(by_name[name])
        ordered[automation.name] = automation

    for automation in automations:
        visit(automation)
    return list(ordered.values())


def platform_blocks(s3: S3Access | None, github_token: pulumi.Input[str] | None) -> list[BlockSpec]:
    """The blocks flows and pull steps use: object-store credentials, results bucket, token.

    Names match `infra.declarations.PLATFORM_BLOCKS`: `minio-credentials/object-store` and
    `s3-bucket/results` when the stack has an object store, `secret/github-token` when a
    token is configured (`prefect-platform:githubToken`, a secret).
    """
    blocks = []
    if s3 is not None:
        access_key, secret_key = s3.flow_run_keys()  # never the store's root keys
        credentials = BlockSpec(
            "minio-credentials",
            "object-store",
            {
                "minio_root_user": access_key,
                "minio_root_password": secret_key,
                "region_name": "us-east-1",
                "aws_client_parameters": {"endpoint_url": s3.endpoint_url},
            },
        )
        bucket = BlockSpec(
            "s3-bucket",
            "results",
            {
                "bucket_name": s3.results_bucket,
                "credentials": {
                    "$ref": {
                        "block_document_name": credentials.name,
                        "block_type_slug": credentials.block_type_slug,
                    }
                },
            },
            depends_on=(credentials.reference,),
        )
        blocks += [credentials, bucket]
    if github_token is not None:
        blocks.append(BlockSpec("secret", "github-token", {"value": github_token}))
    return blocks
