"""The ``prefect-platform`` command: validate declarations, regenerate their JSON Schemas.

Usage:
    prefect-platform validate [--root PATH] [--stack-config Pulumi.<stack>.yaml]
                              [--block TYPE/NAME ...]
    prefect-platform schemas [--root PATH] [--check]
    prefect-platform backup [--bucket B] [--prefix P] [--retention-days N] [--keep N] [--list]
    prefect-platform restore [--bucket B] [--prefix P] [--key KEY] [--force]

``validate`` exits 0 and prints what is declared, or exits 1 and lists every
problem as ``file: field: what was expected``. Nothing talks to a server.
``backup`` / ``restore``: the server's database to and from the object store
(infra/backup/; secrets from the environment, see docs/operations.md#backups).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _validate(root: Path, stack_config: Path | None, blocks: list[str]) -> int:
    from infra.declarations import (
        PLATFORM_BLOCKS,
        DeclarationError,
        load_declarations,
        read_stack_overrides,
    )
    from infra.declarations.overrides import OVERRIDES_KEY

    overrides = None
    source = OVERRIDES_KEY
    secret_keys: set[str] | None = None
    if stack_config is not None:
        try:
            overrides = read_stack_overrides(stack_config)
            secret_keys = _stack_config_keys(stack_config)
        except (OSError, ValueError) as error:
            print(f"{stack_config}: {error}", file=sys.stderr)
            return 1
        source = f"{stack_config.name}: config.{OVERRIDES_KEY}"
    try:
        declarations = load_declarations(
            root,
            overrides,
            known_blocks=PLATFORM_BLOCKS | set(blocks),
            overrides_source=source,
            known_secrets=secret_keys,
        )
    except DeclarationError as error:
        print(error, file=sys.stderr)
        return 1
    counts = ", ".join(
        f"{count} {kind.replace('_', ' ')}" for kind, count in declarations.count().items()
    )
    suffix = f" with overrides from {stack_config}" if stack_config else ""
    print(f"OK: {counts} ({root.resolve()}{suffix})")
    return 0


def _stack_config_keys(stack_config: Path) -> set[str]:
    """The `prefect-platform:<key>` keys a Pulumi.<stack>.yaml sets (secrets among them)."""
    from infra.declarations.yaml_io import read_yaml

    document = read_yaml(stack_config) or {}
    config = document.get("config") if isinstance(document, dict) else None
    prefix = "prefect-platform:"
    return {
        key.removeprefix(prefix).split(".")[0]
        for key in (config if isinstance(config, dict) else {})
        if isinstance(key, str) and key.startswith(prefix)
    }


def _schemas(root: Path, check: bool) -> int:
    from infra.declarations.schemas import generate_schemas, write_schemas

    directory = root / "schemas"
    if check:
        stale = [
            name
            for name, text in generate_schemas().items()
            if not (directory / name).exists() or (directory / name).read_text() != text
        ]
        if stale:
            print(
                f"out of date in {directory}: {', '.join(stale)} (run prefect-platform schemas)",
                file=sys.stderr,
            )
            return 1
        print(f"OK: schemas in {directory} are up to date")
        return 0
    for path in write_schemas(directory):
        print(f"wrote {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="prefect-platform", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check every declaration (no API calls)")
    validate.add_argument("--root", type=Path, default=Path("."), help="repository root")
    validate.add_argument(
        "--stack-config",
        type=Path,
        help=(
            "apply this Pulumi stack file's prefect-platform:overrides; the secrets that "
            "blocks/ and webhooks/ name must be set in it"
        ),
    )
    validate.add_argument(
        "--block",
        action="append",
        default=[],
        metavar="TYPE/NAME",
        help="a block document automations may name, besides the platform's own (repeatable)",
    )
    schemas = commands.add_parser("schemas", help="regenerate schemas/ from the models")
    schemas.add_argument("--root", type=Path, default=Path("."), help="repository root")
    schemas.add_argument("--check", action="store_true", help="fail if schemas/ is out of date")
    from infra.backup.cli import add_parsers, run

    add_parsers(commands)
    arguments = parser.parse_args(argv)
    if arguments.command in ("backup", "restore"):
        return run(arguments)
    if arguments.command == "validate":
        return _validate(arguments.root, arguments.stack_config, arguments.block)
    return _schemas(arguments.root, arguments.check)


if __name__ == "__main__":
    sys.exit(main())
