"""The event tests' platform: the declarations in tests/events/repo/, applied by the kit.

`events_stack` copies tests/events/repo/ (pools, automations, a notification block, a
prefect.yaml with a deployment trigger) and the repository's flows/ into a folder, pushes it
to the harness's git remote (the deployments' pull step clones it), and applies it with the
real Pulumi program under the engine stand-in (`tests/harness/engine.py`), as `pulumi up`
does: declarations loaded and validated by the kit, automations' names resolved to ids by its
provider. It is destroyed when the package's tests end. `armed` waits until the server's
triggers service evaluates the new automations, so a test's first event counts.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.events.helpers import deployment_id, emit, run_names
from tests.harness.engine import ForwardingMocks, Operations, apply_program, destroy, external_stack
from tests.harness.git_remote import GitRemote
from tests.harness.http_sink import HttpSink, running_sink
from tests.harness.live_server import LiveServer
from tests.harness.mockstack import copy_repo_files
from tests.harness.s3 import S3Server

REPO = Path(__file__).parent / "repo"


@dataclass
class EventsStack:
    """The applied stack: its folder (editable) and the engine's state."""

    root: Path
    config: dict[str, Any]
    secrets: dict[str, str]
    mocks: ForwardingMocks = field(default_factory=ForwardingMocks)

    def up(self) -> Operations:
        """One `pulumi up` of the program over `root`."""
        return apply_program(self.mocks, self.config, self.secrets, self.root)


ALERTS_TOKEN = "events-alerts-token-" + uuid.uuid4().hex
"""The notification block's secret token (blocks/events-alerts.yaml), a stack config secret."""


@pytest.fixture(scope="package")
def notification_sink() -> Iterator[HttpSink]:
    """The HTTP endpoint the declared `custom-webhook/events-alerts` block posts to."""
    with running_sink() as sink:
        yield sink


@pytest.fixture(scope="package")
def events_stack(
    prefect_server: LiveServer,
    s3_server: S3Server,
    git_remote: GitRemote,
    notification_sink: HttpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[EventsStack]:
    """tests/events/repo/ with flows/, pushed to the git remote and applied by the program."""
    root = copy_repo_files(tmp_path_factory.mktemp("events-repo"), ["flows"])
    shutil.copytree(REPO, root, dirs_exist_ok=True)
    git_remote.push_tree(root, "flows for the event tests")
    config, secrets = external_stack(
        prefect_server,
        s3_server,
        "results",
        eventsAlertsUrl=f"{notification_sink.url}/alerts",
        eventsAlertsToken=ALERTS_TOKEN,
    )
    stack = EventsStack(root=root, config=config, secrets=secrets)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("EVENTS_REPO_URL", git_remote.url)
        stack.up()
        try:
            yield stack
        finally:
            destroy(stack.mocks)  # leave the shared server as we found it


@pytest.fixture(scope="package")
def armed(events_stack: EventsStack) -> None:
    """Wait until the triggers service has loaded the stack's automations.

    The server loads an automation moments after it is created; this emits the deployment
    trigger's event until that automation runs its deployment, so later tests can count
    on their first event (and on an event that should not fire being evaluated).
    """
    deployment = deployment_id("smoke/events-triggered")
    deadline = time.monotonic() + 60
    while not run_names(deployment):
        assert time.monotonic() < deadline, "the triggers service did not load the automations"
        emit("events.deploy.requested", f"events.deploy.ready-{uuid.uuid4().hex[:8]}")
        time.sleep(2)
