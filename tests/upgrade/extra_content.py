"""Objects the backup content (`tests/backup/server_content.py`) does not make, over plain HTTP.

A global concurrency limit, a tag concurrency limit and an automation: their request bodies are
the same in the previous release and this one, so the test process posts them itself and reads
them back from any version's API.
"""

from __future__ import annotations

from typing import Any

import httpx

GLOBAL_LIMIT = "upgrade-global-limit"
TAG_LIMIT = "upgrade-tag"
AUTOMATION = "upgrade-automation"

_AUTOMATION_BODY: dict[str, Any] = {
    "name": AUTOMATION,
    "description": "made by the previous release, read by this one",
    "enabled": True,
    "trigger": {
        "type": "event",
        "match": {"prefect.resource.id": "prefect.flow-run.*"},
        "expect": ["prefect.flow-run.Failed"],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
    },
    "actions": [{"type": "cancel-flow-run"}],
}


def api_client(api_url: str, auth: tuple[str, str]) -> httpx.Client:
    """An httpx client on the server's API with its basic auth."""
    return httpx.Client(base_url=api_url, auth=auth, timeout=30)


def populate(api: httpx.Client) -> None:
    """Create the limits and the automation (raises on any refusal)."""
    for path, body in (
        ("/v2/concurrency_limits/", {"name": GLOBAL_LIMIT, "limit": 3, "slot_decay_per_second": 0}),
        ("/concurrency_limits/", {"tag": TAG_LIMIT, "concurrency_limit": 2}),
        ("/automations/", _AUTOMATION_BODY),
    ):
        api.post(path, json=body).raise_for_status()


def snapshot(api: httpx.Client) -> dict[str, Any]:
    """What `populate` made, as the API returns it (ids included, volatile fields left out)."""
    limit = _ok(api.get(f"/v2/concurrency_limits/{GLOBAL_LIMIT}"))
    tag = _ok(api.get(f"/concurrency_limits/tag/{TAG_LIMIT}"))
    automations = _ok(api.post("/automations/filter", json={}))
    return {
        "global_limit": {k: limit[k] for k in ("id", "name", "limit", "active", "active_slots")},
        "tag_limit": {k: tag[k] for k in ("id", "tag", "concurrency_limit")},
        "automations": [
            {
                "id": a["id"],
                "name": a["name"],
                "enabled": a["enabled"],
                "description": a["description"],
                "expect": a["trigger"]["expect"],
                "match": a["trigger"]["match"],
                "actions": [action["type"] for action in a["actions"]],
            }
            for a in automations
        ],
    }


def _ok(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()
