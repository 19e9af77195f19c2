"""What the platform targets and the Prefect-objects step share: pools, object store, platform.

`build_platform` (in `infra/program.py`) turns the stack config into a `Platform` through one of
the targets in `infra/targets/`; `PrefectObjects` applies the declarations to its server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi


@dataclass(frozen=True)
class PoolSpec:
    """A work pool as declared in `pools/` (name, type, full base job template)."""

    name: str
    """Work pool name."""
    type: str
    """Work pool type (`process`, `docker`, `kubernetes`)."""
    base_job_template: Mapping[str, Any] | None = None
    """The full, merged base job template; None: the worker type's default."""

    def job_default(self, variable: str) -> Any:
        """The default of one job variable in the base job template (None when unset)."""
        template = self.base_job_template or {}
        spec = template.get("variables", {}).get("properties", {}).get(variable, {})
        return spec.get("default") if isinstance(spec, Mapping) else None

    def service_account_name(self) -> str | None:
        """The account a Kubernetes pool's flow-run pods run as.

        Fixed in the job manifest by the declarations (`POOL_FIXED_VARIABLES`); a template that
        still has the `{{ service_account_name }}` placeholder gives the variable's default.
        """
        manifest = (self.base_job_template or {}).get("job_configuration", {}).get("job_manifest")
        pod = (manifest or {}).get("spec", {}).get("template", {}).get("spec", {})
        account = pod.get("serviceAccountName")
        if account == "{{ service_account_name }}":
            account = self.job_default("service_account_name")
        return account if isinstance(account, str) and account else None


@dataclass(frozen=True)
class S3Access:
    """The stack's object store, as flow runs see it."""

    endpoint_url: pulumi.Output[str]
    """S3 endpoint URL reachable from flow runs (in-cluster / on the Docker network)."""
    access_key: pulumi.Output[str]
    """Access key id (secret)."""
    secret_key: pulumi.Output[str]
    """Secret access key (secret)."""
    buckets: list[str]
    """Buckets; the first is the results bucket."""
    flows_access_key: pulumi.Output[str] | None = None
    """Access key of the user flow runs get, limited to `buckets` (None: the keys above)."""
    flows_secret_key: pulumi.Output[str] | None = None
    """Its secret key."""

    def flow_run_keys(self) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        """The keys flow runs get: the flows' own user where the platform made one."""
        if self.flows_access_key is None or self.flows_secret_key is None:
            return self.access_key, self.secret_key
        return self.flows_access_key, self.flows_secret_key

    @property
    def results_bucket(self) -> str:
        """The bucket flow results go to."""
        return self.buckets[0]


@dataclass(frozen=True)
class GatewaySpec:
    """The webhook gateway's endpoints (`webhooks/`), for the targets that deploy it."""

    endpoints: str
    """JSON list of the endpoints, without secrets (the gateway's `PLATFORM_WEBHOOKS`)."""
    secrets: Mapping[str, pulumi.Input[str]]
    """Each endpoint's secret (Pulumi secrets), by the environment variable the gateway reads."""
    slugs: list[str]
    """The endpoints' slugs (`POST /hooks/<slug>`)."""


@dataclass(frozen=True)
class Platform:
    """What a stack's platform offers the Prefect-objects step and the stack outputs."""

    api_url: pulumi.Output[str]
    """API URL the Pulumi process reaches the server on (`.../api`)."""
    ui_url: pulumi.Output[str]
    """URL of the UI in a browser."""
    auth_string: pulumi.Output[str] | None
    """`user:password` for basic auth (secret); None for an external server without auth."""
    s3: S3Access | None
    """The object store; None for an external target without `externalObjectStore`."""
    worker_pools: list[str] = field(default_factory=list)
    """Names of the work pools that have a worker in this stack."""
    open_ui_command: str = ""
    """A shell command that opens the UI."""
    ready: list[pulumi.Resource] = field(default_factory=list)
    """Resources the Prefect objects wait for (the server answering, buckets created)."""
    webhook_urls: pulumi.Output[dict[str, str]] | None = None
    """Each webhook endpoint's URL, by slug (None: no `webhooks/`, or no gateway here)."""
