"""Declarations of Prefect objects: typed models, one loader, validation before any change.

Entry point: ``load_declarations(root, overrides)`` reads ``pools/``,
``automations/``, ``concurrency-limits.yaml``, ``variables.yaml`` and the
deployments of ``prefect.yaml``, and raises ``DeclarationError`` listing every
problem (``file: field: what was expected``). Each model's ``provider_inputs()``
gives the dict the Pulumi dynamic providers take. See docs/declarations.md.
"""

from infra.declarations.automations import AutomationDeclaration
from infra.declarations.deployments import DeploymentDeclaration
from infra.declarations.errors import DeclarationError, Issue
from infra.declarations.limits import ConcurrencyLimitDeclaration, VariableDeclaration
from infra.declarations.loader import PLATFORM_BLOCKS, Declarations, load_declarations
from infra.declarations.overrides import OVERRIDES_KEY, Overrides, read_stack_overrides
from infra.declarations.pools import WorkPoolDeclaration, WorkQueueDeclaration

__all__ = [
    "OVERRIDES_KEY",
    "PLATFORM_BLOCKS",
    "AutomationDeclaration",
    "ConcurrencyLimitDeclaration",
    "DeclarationError",
    "Declarations",
    "DeploymentDeclaration",
    "Issue",
    "Overrides",
    "VariableDeclaration",
    "WorkPoolDeclaration",
    "WorkQueueDeclaration",
    "load_declarations",
    "read_stack_overrides",
]
