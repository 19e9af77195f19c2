"""Blocks as code (`blocks/*.yaml`): what validation refuses, and the data the provider gets.

The fixture repository declares Prefect's `slack-webhook` and prefect-sqlalchemy's
`sqlalchemy-connector`; each case breaks a copy in one place and expects one problem naming
the file and the field. The live path (a declared block applied by the program and used by an
automation) is tests/events/test_notifications.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.declarations import DeclarationError, load_declarations
from tests.declarations.edits import edit

ALERTS = "blocks/fx-alerts.yaml"
WAREHOUSE = "blocks/fx-warehouse.yaml"
SECRETS = {"fxSlackUrl", "fxWarehousePassword"}

CASES = [
    (
        "unknown-type",
        (ALERTS, "type: slack-webhook", "type: slack-hook"),
        ALERTS,
        "type",
        "no block type 'slack-hook' is installed",
    ),
    (
        "unknown-field",
        (WAREHOUSE, "  connection_info:", "  conection_info: {}\n  connection_info:"),
        WAREHOUSE,
        "data.conection_info",
        "SqlAlchemyConnector has no such field",
    ),
    (
        "bad-value",
        (WAREHOUSE, "port: 5432", "port: many"),
        WAREHOUSE,
        "data.connection_info.port",
        "valid integer",
    ),
    (
        "secret-in-the-file",
        (ALERTS, "secrets:\n  url: fxSlackUrl\n", "data:\n  url: https://hooks.example\n"),
        ALERTS,
        "data.url",
        "is a secret field: take it from Pulumi config in `secrets`",
    ),
    (
        "nested-secret-in-the-file",
        (WAREHOUSE, "    username: etl\n", "    username: etl\n    password: hunter2\n"),
        WAREHOUSE,
        "data.connection_info.password",
        "is a secret field",
    ),
    (
        "secret-for-a-field-that-does-not-exist",
        (ALERTS, "  url: fxSlackUrl", "  url: fxSlackUrl\n  token: fxSlackUrl"),
        ALERTS,
        "secrets.token",
        "SlackWebhook has no such field",
    ),
    (
        "secret-key-not-in-the-stack",
        (WAREHOUSE, "fxWarehousePassword", "fxWarehousePasword"),
        WAREHOUSE,
        "secrets.connection_info.password",
        "the stack has no config secret 'prefect-platform:fxWarehousePasword'",
    ),
    (
        "reference-to-an-unknown-block",
        (
            "blocks/fx-bucket.yaml",
            None,
            "type: s3-bucket\nname: fx-bucket\ndata:\n  bucket_name: fx\n"
            "  credentials:\n    $ref: minio-credentials/nope\n",
        ),
        "blocks/fx-bucket.yaml",
        "data.credentials.$ref",
        "no block document named 'minio-credentials/nope'",
    ),
    (
        "a-platform-block",
        (ALERTS, "type: slack-webhook\nname: fx-alerts", "type: secret\nname: github-token"),
        ALERTS,
        "name",
        "block 'secret/github-token' is provisioned by the platform",
    ),
    (
        "duplicate-name",
        (
            "blocks/copy.yaml",
            None,
            "type: slack-webhook\nname: fx-alerts\nsecrets:\n  url: fxSlackUrl\n",
        ),
        "blocks/fx-alerts.yaml",
        "name",
        "duplicate block document name 'slack-webhook/fx-alerts'",
    ),
]


@pytest.mark.parametrize(
    ("change", "file", "field", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_block_file_names_the_file_and_the_field(
    repo: Path, change: tuple[str, str | None, str], file: str, field: str, message: str
) -> None:
    edit(repo, *change)
    with pytest.raises(DeclarationError) as raised:
        load_declarations(repo, known_secrets=SECRETS)
    problems = [(issue.file, issue.field) for issue in raised.value.issues]
    assert problems == [(file, field)], raised.value
    assert message in raised.value.issues[0].message


def test_blocks_that_name_each_other_in_a_circle_are_refused(repo: Path) -> None:
    for name, other in (("fx-a", "fx-b"), ("fx-b", "fx-a")):
        edit(
            repo,
            f"blocks/{name}.yaml",
            None,
            f"type: s3-bucket\nname: {name}\ndata:\n  bucket_name: b\n"
            f"  credentials:\n    $ref: s3-bucket/{other}\n",
        )
    with pytest.raises(DeclarationError) as raised:
        load_declarations(repo)
    circle = [issue for issue in raised.value.issues if "circle" in issue.message]
    assert {issue.file for issue in circle} == {"blocks/fx-a.yaml", "blocks/fx-b.yaml"}


def test_the_provider_gets_the_data_with_secrets_filled_in_and_references_resolved(
    repo: Path,
) -> None:
    edit(
        repo,
        "blocks/fx-bucket.yaml",
        None,
        "type: s3-bucket\nname: fx-bucket\ndata:\n  bucket_name: fx\n"
        "  credentials:\n    $ref: minio-credentials/object-store\n",
    )
    declarations = load_declarations(repo, known_secrets=SECRETS)
    blocks = {block.reference: block for block in declarations.blocks}
    assert declarations.secret_keys() == SECRETS

    warehouse = blocks["sqlalchemy-connector/fx-warehouse"]
    data = warehouse.provider_data({"fxWarehousePassword": "s3cret"})
    assert data["connection_info"]["password"] == "s3cret"
    assert warehouse.data["connection_info"] == {  # the declaration is unchanged
        "driver": "postgresql+psycopg2",
        "host": "warehouse.internal",
        "port": 5432,
        "database": "analytics",
        "username": "etl",
    }

    bucket = blocks["s3-bucket/fx-bucket"]
    assert bucket.provider_data({})["credentials"] == {
        "$ref": {"block_type_slug": "minio-credentials", "block_document_name": "object-store"}
    }


def test_an_automation_may_name_a_declared_block(repo: Path) -> None:
    edit(
        repo,
        "automations/fx-notify.yaml",
        None,
        "name: fx-notify\ntrigger:\n  type: event\n  expect: [fx.alert]\nactions:\n"
        "  - type: send-notification\n    block_document: slack-webhook/fx-alerts\n"
        "    body: hello\n",
    )
    declarations = load_declarations(repo)
    assert "fx-notify" in {automation.name for automation in declarations.automations}
