"""`webhooks/*.yaml` are validated by the kit's one loader: a bad file names file and field.

Each case copies the repository's `webhooks/github-push.yaml` into an otherwise empty root,
breaks it in one place and expects exactly one problem. No server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from infra.cli import main
from infra.declarations import DeclarationError, load_declarations
from infra.declarations.webhooks import WebhookDeclaration
from infra.gateway.endpoints import Endpoint
from tests.declarations.edits import edit
from tests.webhooks.gateway import REPO

FILE = "webhooks/github-push.yaml"
SECRET = "githubWebhookSecret"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An empty repository but for the example webhook."""
    (tmp_path / "webhooks").mkdir()
    shutil.copy(REPO / FILE, tmp_path / FILE)
    return tmp_path


def test_the_example_loads_and_the_gateway_gets_it_without_its_secret(root: Path) -> None:
    (webhook,) = load_declarations(root, known_secrets={SECRET, "other"}).webhooks

    assert isinstance(webhook, WebhookDeclaration)
    assert (webhook.slug, webhook.secret) == ("github-push", SECRET)
    endpoint = webhook.endpoint()
    assert type(endpoint) is Endpoint
    assert "secret" not in endpoint.model_dump()
    assert endpoint.auth.header_name == "X-Hub-Signature-256"
    assert endpoint.auth.value_prefix == "sha256="


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("  burst: 30", "  brust: 30", "limits.brust", "unknown field"),
        ("secret: githubWebhookSecret", f"secret: {SECRET}\ntoken: abc", "token", "unknown field"),
        ("kind: hmac-sha256", "kind: hmac-sha1", "auth.kind", "'hmac-sha256' or 'bearer'"),
        ("slug: github-push", "slug: GitHub_Push", "slug", "should match pattern"),
        (
            '"ref": {{ body.ref | tojson }},',
            '"ref": {{ body.ref | tojson },',
            "template",
            "does not compile: line 16: unexpected '}'",
        ),
        (
            '"commits": {{ body.commits | length }}',
            '"commits": {{ body.commits | center(80) }}',
            "template",
            "does not compile: line 20: No filter named 'center'",
        ),
        ("secret: githubWebhookSecret", "secret: 'ghp_x y'", "secret", "should match pattern"),
    ],
)
def test_a_bad_webhook_file_names_the_file_and_the_field(
    root: Path, old: str, new: str, field: str, message: str
) -> None:
    edit(root, FILE, old, new)

    with pytest.raises(DeclarationError) as raised:
        load_declarations(root)

    assert [(issue.file, issue.field) for issue in raised.value.issues] == [(FILE, field)]
    assert message in raised.value.issues[0].message


def test_a_secret_the_stack_does_not_set_is_an_error_on_the_secret_field(root: Path) -> None:
    with pytest.raises(DeclarationError) as raised:
        load_declarations(root, known_secrets={"authString"})

    (issue,) = raised.value.issues
    assert (issue.file, issue.field) == (FILE, "secret")
    assert f"the stack sets no secret prefect-platform:{SECRET}" in issue.message


def test_two_files_with_one_slug_are_an_error_on_the_second(root: Path) -> None:
    shutil.copy(root / FILE, root / "webhooks/github-push-again.yaml")

    with pytest.raises(DeclarationError) as raised:
        load_declarations(root)

    (issue,) = raised.value.issues
    assert (issue.file, issue.field) == ("webhooks/github-push.yaml", "slug")
    assert "duplicate webhook slug 'github-push': already in webhooks/github-push-again.yaml" in (
        issue.message
    )


def test_validate_with_a_stack_file_checks_the_secrets_it_sets(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "Pulumi.test.yaml"
    stack.write_text("config:\n  prefect-platform:target: external\n")

    assert main(["validate", "--root", str(root), "--stack-config", str(stack)]) == 1
    assert f"{FILE}: secret: the stack sets no secret prefect-platform:{SECRET}" in (
        capsys.readouterr().err
    )

    stack.write_text(
        "config:\n  prefect-platform:target: external\n"
        f"  prefect-platform:{SECRET}:\n    secure: v1:AAAA\n"
    )
    assert main(["validate", "--root", str(root), "--stack-config", str(stack)]) == 0
    assert "1 webhooks" in capsys.readouterr().out


def test_the_committed_schema_describes_every_field() -> None:
    schema = json.loads((REPO / "schemas/webhook.schema.json").read_text())

    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "slug",
        "description",
        "auth",
        "template",
        "limits",
        "secret",
    }
    assert all(spec.get("description") for spec in schema["properties"].values())


def test_the_gateway_package_imports_nothing_of_infra_but_itself() -> None:
    """Its image copies only infra/gateway/ (images/gateway/Dockerfile)."""
    from tests.test_architecture import import_graph

    outside = {
        f"{module} -> {target}"
        for module, targets in import_graph().items()
        if module.startswith("infra.gateway")
        for target in targets
        if not target.startswith("infra.gateway")
    }

    assert outside == set()
