"""Pulumi dynamic providers for Prefect objects, one module per kind.

Each module has an inputs model, a provider (check/diff/create/update/delete/
read against the Prefect API) and a resource class ``prefect:<Kind>``. Which
fields update in place and which force a replacement: docs/providers.md.
"""

from .automation import Automation, AutomationProvider
from .block_document import BlockDocument, BlockDocumentProvider
from .client import Connection
from .concurrency_limit import GlobalConcurrencyLimit, GlobalConcurrencyLimitProvider
from .deployment import Deployment, DeploymentProvider
from .serialization import restore_pickler_after_each_serialization
from .variable import Variable, VariableProvider
from .work_pool import WorkPool, WorkPoolProvider
from .work_queue import WorkQueue, WorkQueueProvider

restore_pickler_after_each_serialization()

__all__ = [
    "Automation",
    "AutomationProvider",
    "BlockDocument",
    "BlockDocumentProvider",
    "Connection",
    "Deployment",
    "DeploymentProvider",
    "GlobalConcurrencyLimit",
    "GlobalConcurrencyLimitProvider",
    "Variable",
    "VariableProvider",
    "WorkPool",
    "WorkPoolProvider",
    "WorkQueue",
    "WorkQueueProvider",
]
