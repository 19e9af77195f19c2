"""Default-deny ingress in the platform's namespace, and the few paths the platform needs.

Flow runs execute arbitrary code in the namespace: they must reach the API and the object
store, never the database or Redis. Every pod is closed to incoming traffic except:

- the API (`prefect-server`, component `server`) on 4200, from anywhere: workers, flow runs,
  users through the Service, NodePort or Ingress;
- the object store on 9000, from anywhere: flow runs, the bucket Job, the host (kind NodePort);
- the bundled PostgreSQL on 5432 and Redis on 6379, from the server chart's own pods only
  (API, background services, migrations).

Egress stays open: flow runs clone from GitHub and reach whatever their flows call. Policies
only bite with a CNI that enforces them (kind's default, kindnet, does not; Calico and Cilium
do). Pod labels are the charts' (`tests/platform/test_rendered_charts.py` checks each policy
against the rendered pods).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s

from infra.components.object_store import SERVICE_NAME as OBJECT_STORE
from infra.components.server_values import RELEASE_NAME

SERVER_CHART_PODS = {"app.kubernetes.io/name": "prefect-server"}
"""Every pod of the prefect-server chart itself: API, background services, migrations Job."""

API_PODS = {**SERVER_CHART_PODS, "app.kubernetes.io/component": "server"}
"""The API replicas."""


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    """Inputs of `NetworkPolicies`."""

    namespace: str
    """The platform's namespace."""
    bundled_database: bool
    """The server chart runs PostgreSQL (`server.database: bundled`)."""
    redis: bool
    """The server chart runs Redis (`server.redis`)."""


class NetworkPolicies(pulumi.ComponentResource):
    """The namespace's NetworkPolicies (see the module docstring for what each allows)."""

    policies: list[k8s.networking.v1.NetworkPolicy]

    def __init__(
        self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("prefect-platform:kubernetes:NetworkPolicies", name, None, opts)
        specs: dict[str, dict[str, Any]] = {
            "default-deny-ingress": {"podSelector": {}, "policyTypes": ["Ingress"]},
            "prefect-api": _open_port(API_PODS, 4200),
            "object-store": _open_port({"app.kubernetes.io/name": OBJECT_STORE}, 9000),
        }
        chart = {"app.kubernetes.io/instance": RELEASE_NAME}
        if args.bundled_database:
            specs["database"] = _from_server_chart(
                {**chart, "app.kubernetes.io/name": "postgresql"}, 5432
            )
        if args.redis:
            specs["redis"] = _from_server_chart({**chart, "app.kubernetes.io/name": "redis"}, 6379)
        self.policies = [
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy}",
                metadata={"name": policy, "namespace": args.namespace},
                spec=cast(k8s.networking.v1.NetworkPolicySpecArgsDict, spec),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for policy, spec in specs.items()
        ]
        self.register_outputs({})


def _open_port(pods: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "podSelector": {"matchLabels": pods},
        "policyTypes": ["Ingress"],
        "ingress": [{"ports": [{"protocol": "TCP", "port": port}]}],
    }


def _from_server_chart(pods: dict[str, str], port: int) -> dict[str, Any]:
    return {
        "podSelector": {"matchLabels": pods},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": SERVER_CHART_PODS}}],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        ],
    }
