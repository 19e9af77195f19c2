"""WebhookGateway: the kit's webhook gateway (infra/gateway/) beside the server (docs/webhooks.md).

The gateway runs in the flows image, which already holds what it imports (Prefect brings
Starlette, uvicorn, Jinja2 and httpx); its own code, the `infra/gateway` package, is shipped
with the stack: a ConfigMap mounted read-only on Kubernetes, files uploaded into the container
on the Docker target. A change to the gateway's code or to `webhooks/` rolls it out on the next
`pulumi up` without an image build. Endpoint secrets and the server's auth string reach it only
as Secret references (Kubernetes) or secret environment (Docker).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_docker as docker
import pulumi_kubernetes as k8s

from infra.components.docker_container import Placement, container
from infra.components.object_store import RESTRICTED_CONTAINER
from infra.components.server_values import ROTATION_ANNOTATION
from infra.components.values import REPO_ROOT
from infra.gateway.config import (
    API_URL_ENV,
    AUTH_STRING_ENV,
    ENDPOINTS_ENV,
    HEALTH_PATH,
    HOOKS_PREFIX,
    PORT,
)
from infra.platform_types import GatewaySpec

NAME = "webhook-gateway"
"""Name of the Deployment, Service, Secret, ConfigMap and pods' `app.kubernetes.io/name`."""

CODE_DIR = "/opt/webhook-gateway"
"""Where the gateway's code is mounted; on `PYTHONPATH`, so `python -m infra.gateway` runs."""

COMMAND = ["python", "-m", "infra.gateway", "--host", "0.0.0.0", "--port", str(PORT)]
"""What the container runs."""

_HEALTH = (
    "import sys,urllib.request;"
    f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{PORT}{HEALTH_PATH}',timeout=4).status!=200)"
)


def gateway_code() -> dict[str, str]:
    """The files the gateway runs, by path relative to `CODE_DIR` (`infra/gateway/*.py`)."""
    files = [
        REPO_ROOT / "infra" / "__init__.py",
        *sorted((REPO_ROOT / "infra/gateway").glob("*.py")),
    ]
    return {str(path.relative_to(REPO_ROOT)): path.read_text() for path in files}


def _fingerprint(spec: GatewaySpec, code: Mapping[str, str]) -> str:
    """Changes when the code or the endpoints do (rolls the pods; secrets roll with their own)."""
    digest = hashlib.sha256(spec.endpoints.encode())
    for path, text in sorted(code.items()):
        digest.update(f"\0{path}\0{text}".encode())
    return digest.hexdigest()[:16]


def runtime_env() -> dict[str, str]:
    """Where the code is and how Python runs it (no bytecode writes on a read-only root)."""
    return {"PYTHONPATH": CODE_DIR, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def endpoint_urls(base_url: str, slugs: Sequence[str]) -> dict[str, str]:
    """Each endpoint's URL under the gateway's base URL."""
    return {slug: f"{base_url.rstrip('/')}{HOOKS_PREFIX}{slug}" for slug in slugs}


@dataclass(frozen=True)
class WebhookGatewayArgs:
    """Inputs of `WebhookGateway` (Kubernetes)."""

    namespace: str
    """The platform's namespace."""
    image: str
    """The flows image (`flowsImage`), which holds the gateway's dependencies."""
    spec: GatewaySpec
    """Endpoints and their secrets (from `webhooks/`)."""
    api_url: pulumi.Input[str]
    """The server's in-cluster API URL."""
    auth_secret_name: pulumi.Input[str]
    """The Secret holding the server's `auth-string`."""
    ingress_host: str | None = None
    """The server's Ingress host: the gateway gets `/hooks/` on it (same TLS)."""
    ingress_class_name: str = ""
    """IngressClass of the server's Ingress."""
    ingress_tls_secret: str | None = None
    """TLS Secret of that host, when the server's Ingress has one."""
    public_url: str | None = None
    """The server's public URL (`https://host`), the base of the endpoints' URLs."""
    replicas: int = 1
    """Gateway replicas (the rate limit is per replica)."""
    auth_rotation: str = "1"
    """The server's `authRotation`; a new value restarts the pods on the new password."""


class WebhookGateway(pulumi.ComponentResource):
    """The gateway as a Deployment and Service, with `/hooks/` on the server's Ingress host."""

    urls: pulumi.Output[dict[str, str]]
    """Each endpoint's URL (public with an Ingress host, in-cluster otherwise)."""

    def __init__(
        self, name: str, args: WebhookGatewayArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("prefect-platform:kubernetes:WebhookGateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "prefect-platform"}
        meta: dict[str, Any] = {"name": NAME, "namespace": args.namespace, "labels": labels}
        code = gateway_code()
        keys = {path: path.replace("/", ".") for path in code}  # ConfigMap keys have no '/'
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-code",
            metadata=_meta({**meta, "name": f"{NAME}-code"}),
            data={keys[path]: text for path, text in code.items()},
            opts=child,
        )
        secret = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=_meta(meta),
            string_data={
                env: pulumi.Output.secret(value) for env, value in args.spec.secrets.items()
            },
            opts=child,
        )
        env: list[dict[str, Any]] = [
            {"name": key, "value": value} for key, value in runtime_env().items()
        ]
        env += [
            {"name": ENDPOINTS_ENV, "value": args.spec.endpoints},
            {"name": API_URL_ENV, "value": args.api_url},
            {
                "name": AUTH_STRING_ENV,
                "valueFrom": {
                    "secretKeyRef": {"name": args.auth_secret_name, "key": "auth-string"}
                },
            },
        ]
        env += [
            {"name": variable, "valueFrom": {"secretKeyRef": {"name": NAME, "key": variable}}}
            for variable in sorted(args.spec.secrets)
        ]
        probe = {"httpGet": {"path": HEALTH_PATH, "port": PORT}, "periodSeconds": 10}
        pod = {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000},
            "containers": [
                {
                    "name": "gateway",
                    "image": args.image,
                    "command": COMMAND,
                    "env": env,
                    "ports": [{"name": "http", "containerPort": PORT}],
                    "readinessProbe": probe,
                    "livenessProbe": {**probe, "initialDelaySeconds": 10},
                    "resources": {
                        "requests": {"cpu": "50m", "memory": "128Mi"},
                        "limits": {"memory": "256Mi"},
                    },
                    "securityContext": {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True},
                    "volumeMounts": [{"name": "code", "mountPath": CODE_DIR, "readOnly": True}],
                }
            ],
            "volumes": [
                {
                    "name": "code",
                    "configMap": {
                        "name": f"{NAME}-code",
                        "items": [{"key": keys[path], "path": path} for path in sorted(code)],
                    },
                }
            ],
        }
        annotations = {
            "prefect-platform/gateway": _fingerprint(args.spec, code),
            ROTATION_ANNOTATION: args.auth_rotation,
        }
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=_meta(meta),
            spec=cast(
                k8s.apps.v1.DeploymentSpecArgsDict,
                {
                    "replicas": args.replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels, "annotations": annotations},
                        "spec": pod,
                    },
                },
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config_map, secret]),
        )
        k8s.core.v1.Service(
            f"{name}-service",
            metadata=_meta(meta),
            spec={
                "selector": labels,
                "ports": [{"name": "http", "port": PORT, "target_port": PORT}],
            },
            opts=child,
        )
        # Default-deny ingress (NetworkPolicies) would close the gateway: callers come from
        # anywhere (the ingress controller, or inside the cluster).
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=_meta(meta),
            spec=cast(
                k8s.networking.v1.NetworkPolicySpecArgsDict,
                {
                    "podSelector": {"matchLabels": labels},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"ports": [{"protocol": "TCP", "port": PORT}]}],
                },
            ),
            opts=child,
        )
        base = f"http://{NAME}.{args.namespace}.svc:{PORT}"
        if args.ingress_host:
            self._ingress(name, args, meta)
            base = args.public_url or f"http://{args.ingress_host}"
        self.urls = pulumi.Output.from_input(endpoint_urls(base, args.spec.slugs))
        self.register_outputs({"urls": self.urls})

    def _ingress(self, name: str, args: WebhookGatewayArgs, meta: dict[str, Any]) -> None:
        path = {
            "path": HOOKS_PREFIX.rstrip("/"),
            "pathType": "Prefix",
            "backend": {"service": {"name": NAME, "port": {"number": PORT}}},
        }
        spec: dict[str, Any] = {"rules": [{"host": args.ingress_host, "http": {"paths": [path]}}]}
        if args.ingress_class_name:
            spec["ingressClassName"] = args.ingress_class_name
        if args.ingress_tls_secret:
            spec["tls"] = [{"hosts": [args.ingress_host], "secretName": args.ingress_tls_secret}]
        k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=_meta(meta),
            spec=cast(k8s.networking.v1.IngressSpecArgsDict, spec),
            opts=pulumi.ResourceOptions(parent=self),
        )


def _meta(meta: dict[str, Any]) -> k8s.meta.v1.ObjectMetaArgsDict:
    return cast(k8s.meta.v1.ObjectMetaArgsDict, meta)


def gateway_container(
    place: Placement,
    image: str,
    spec: GatewaySpec,
    *,
    api_url: str,
    auth_string: pulumi.Input[str],
    port: int,
    depends_on: list[pulumi.Resource],
) -> docker.Container:
    """The gateway on the Docker target: the flows image, its code uploaded, port on loopback."""
    code = gateway_code()
    return container(
        place,
        NAME,
        image,
        command=COMMAND,
        envs={
            **runtime_env(),
            ENDPOINTS_ENV: spec.endpoints,
            API_URL_ENV: api_url,
            AUTH_STRING_ENV: auth_string,
            **spec.secrets,
        },
        ports=[(PORT, port)],
        health=["CMD", "python", "-c", _HEALTH],
        depends_on=depends_on,
        uploads=[
            docker.ContainerUploadArgs(file=f"{CODE_DIR}/{path}", content=text)
            for path, text in sorted(code.items())
        ],
    )
