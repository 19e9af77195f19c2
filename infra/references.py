"""Name references in automation actions, resolved to ids at apply time.

Prefect's automation schema points at other objects by id (``deployment_id``,
``work_pool_id``...), which differ per server. Files in ``automations/`` name
them instead; this table says which action field holds the name, what it names,
and which id field Prefect expects in its place.

Reference formats:
    deployment:      "<flow name>/<deployment name>"
    work_pool:       "<pool name>"
    work_queue:      "<pool name>/<queue name>"
    automation:      "<automation name>"
    block_document:  "<block type slug>/<block document name>"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ReferenceKind = Literal["deployment", "work_pool", "work_queue", "automation", "block_document"]


@dataclass(frozen=True)
class ReferenceField:
    """One action field that names an object instead of giving its id."""

    name_field: str
    id_field: str
    kind: ReferenceKind


#: Action type -> the reference field it accepts in place of Prefect's id field.
ACTION_REFERENCES: dict[str, ReferenceField] = {
    "run-deployment": ReferenceField("deployment", "deployment_id", "deployment"),
    "pause-deployment": ReferenceField("deployment", "deployment_id", "deployment"),
    "resume-deployment": ReferenceField("deployment", "deployment_id", "deployment"),
    "pause-work-pool": ReferenceField("work_pool", "work_pool_id", "work_pool"),
    "resume-work-pool": ReferenceField("work_pool", "work_pool_id", "work_pool"),
    "pause-work-queue": ReferenceField("work_queue", "work_queue_id", "work_queue"),
    "resume-work-queue": ReferenceField("work_queue", "work_queue_id", "work_queue"),
    "pause-automation": ReferenceField("automation", "automation_id", "automation"),
    "resume-automation": ReferenceField("automation", "automation_id", "automation"),
    "send-notification": ReferenceField("block_document", "block_document_id", "block_document"),
    "call-webhook": ReferenceField("block_document", "block_document_id", "block_document"),
}
