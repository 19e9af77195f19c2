"""The Pulumi config secrets the repository's declarations name (scripts/lib.sh reads them).

`webhooks/*.yaml` name the shared secret of each endpoint (`secret:`), which the platform may
generate; `blocks/*.yaml` name secrets that come from elsewhere (`secrets:`: a Slack URL, a
database password). Prints one `webhook <key>` or `block <key>` line per key, each key once.
Reads the files as plain YAML, so it runs before the project environment exists; the full
checks are `prefect-platform validate`'s.

Usage: ``python scripts/declared_secrets.py [ROOT]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def declared_secrets(root: Path) -> list[tuple[str, str]]:
    """`(kind, key)` of every config secret `webhooks/` and `blocks/` under `root` name."""
    found: dict[str, str] = {}
    for kind, folder in (("webhook", "webhooks"), ("block", "blocks")):
        for path in sorted([*(root / folder).glob("*.yaml"), *(root / folder).glob("*.yml")]):
            document = yaml.safe_load(path.read_text()) or {}
            if not isinstance(document, dict):
                continue
            if kind == "webhook":
                keys = [document.get("secret")]
            else:
                secrets = document.get("secrets")
                keys = list(secrets.values()) if isinstance(secrets, dict) else []
            for key in keys:
                if isinstance(key, str) and key:
                    found.setdefault(key, kind)
    return [(kind, key) for key, kind in found.items()]


if __name__ == "__main__":
    for kind, key in declared_secrets(Path(sys.argv[1] if len(sys.argv) > 1 else ".")):
        print(kind, key)
