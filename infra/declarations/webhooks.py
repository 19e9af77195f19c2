"""Webhook endpoints (``webhooks/*.yaml``, one per file), for the gateway (docs/webhooks.md).

A file is the gateway's `Endpoint` plus `secret`: the name of the Pulumi config key (namespace
``prefect-platform``) that holds the endpoint's HMAC key or bearer token. The value is never in
the file. Templates are compiled in the sandbox the gateway renders them in, so one that does
not compile fails `prefect-platform validate` with its line.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import Field

from infra.declarations.context import LoadContext, yaml_files
from infra.gateway.endpoints import Endpoint
from infra.gateway.templates import TemplateProblem, compile_template

WEBHOOKS_DIR = "webhooks"
CONFIG_NAMESPACE = "prefect-platform"


class WebhookDeclaration(Endpoint):
    """One webhook file in ``webhooks/``: an endpoint of the gateway and where its secret is."""

    secret: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description=(
            "The Pulumi config key (namespace prefect-platform) holding the signing secret or "
            "token, set with `pulumi config set --secret prefect-platform:<key> <value>`. "
            "Never the value itself."
        ),
    )

    def endpoint(self) -> Endpoint:
        """What the gateway receives: this file without `secret`."""
        return Endpoint.model_validate(self.model_dump(exclude={"secret"}))


def load_webhooks(
    context: LoadContext, known_secrets: Iterable[str] | None = None
) -> list[WebhookDeclaration]:
    """Read and check every webhook file; problems go to the context's collector.

    Args:
        context: the load's state (root, collector).
        known_secrets: the secret config keys the stack sets (without the namespace); when
            given, a file naming another key is an error on its `secret` field.
    """
    webhooks: list[WebhookDeclaration] = []
    slugs: dict[str, str] = {}
    secrets = None if known_secrets is None else set(known_secrets)
    for path in yaml_files(context.root / WEBHOOKS_DIR):
        file = context.relative(path)
        raw = context.read_mapping(path)
        if raw is None:
            continue
        webhook: WebhookDeclaration | None = context.validate(WebhookDeclaration, raw, file)
        if webhook is None:
            continue
        problems = len(context.collector.issues)
        if webhook.slug in slugs:
            context.collector.add(
                file,
                "slug",
                f"duplicate webhook slug {webhook.slug!r}: already in {slugs[webhook.slug]}",
            )
        try:
            compile_template(webhook.template)
        except TemplateProblem as error:
            context.collector.add(
                file, "template", f"does not compile: line {error.line}: {error.message}"
            )
        if secrets is not None and webhook.secret not in secrets:
            context.collector.add(
                file,
                "secret",
                f"the stack sets no secret {CONFIG_NAMESPACE}:{webhook.secret} "
                f"(pulumi config set --secret {CONFIG_NAMESPACE}:{webhook.secret} <value>)",
            )
        if len(context.collector.issues) > problems:
            continue
        slugs[webhook.slug] = file
        webhooks.append(webhook)
    return webhooks
