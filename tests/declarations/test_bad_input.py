"""Malformed declarations fail before anything is applied, naming the file and the field.

Each case breaks a valid copy of fixture_repo/ in one place and expects exactly
one problem: the right file, the right field, and a message saying what was
expected (follow-on errors about the broken object are not reported).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import pytest

from infra.declarations import DeclarationError, load_declarations
from tests.declarations.edits import edit
from tests.harness.mockstack import copy_repo_files

TRIGGER = "automations/fx-run-on-event.yaml"
COMPOUND = "automations/fx-pause-queue.yaml"
PROCESS_POOL = "pools/fx-process.yaml"
K8S_POOL = "pools/fx-kubernetes.yaml"
OVERRIDES = "prefect-platform:overrides"
#: The last line of the fixture's second deployment, after which a test adds `triggers:`.
BACKFILL_END = "    concurrency_limit: 1\n"


@dataclass(frozen=True)
class Case:
    """One way to break the fixture, and the problem it must produce."""

    id: str
    edits: list[tuple[str, str | None, str]]
    file: str
    field: str
    message: str
    overrides: dict[str, Any] = dataclass_field(default_factory=dict)


CASES = [
    Case(
        "bad-yaml",
        [(PROCESS_POOL, "type: process", "type: [process")],
        PROCESS_POOL,
        "",
        "not valid YAML: did not find expected ',' or ']'",
    ),
    Case(
        "key-written-twice",
        [("variables.yaml", "  - name: fx_env\n", "  - name: fx_env\n    name: again\n")],
        "variables.yaml",
        "",
        "key 'name' is written twice",
    ),
    Case(
        "empty-pool-file",
        [(PROCESS_POOL, None, "")],
        PROCESS_POOL,
        "",
        "expected a mapping of fields, got an empty file",
    ),
    Case(
        "unknown-pool-type",
        [(PROCESS_POOL, "type: process", "type: ecs")],
        PROCESS_POOL,
        "type",
        "Input should be 'process', 'docker' or 'kubernetes'",
    ),
    Case(
        "misspelled-pool-field",
        [(PROCESS_POOL, "concurrency_limit: 4", "concurency_limit: 4")],
        PROCESS_POOL,
        "concurency_limit",
        "unknown field",
    ),
    Case(
        "automations-naming-each-other-in-a-circle",
        [
            (
                TRIGGER,
                "actions:\n",
                "actions:\n  - type: pause-automation\n    automation: fx-pause-queue\n",
            )
        ],
        COMPOUND,
        "actions[2].automation",
        "automations pause or resume each other in a circle, "
        "fx-pause-queue -> fx-run-on-event -> fx-pause-queue",
    ),
    Case(
        "negative-limit",
        [("concurrency-limits.yaml", "limit: 3", "limit: -1")],
        "concurrency-limits.yaml",
        "concurrency_limits[0].limit",
        "greater than or equal to 0",
    ),
    Case(
        "negative-decay",
        [("concurrency-limits.yaml", "slot_decay_per_second: 1.5", "slot_decay_per_second: -1")],
        "concurrency-limits.yaml",
        "concurrency_limits[1].slot_decay_per_second",
        "greater than or equal to 0",
    ),
    Case(
        "duplicate-queue-priority",
        [(PROCESS_POOL, "  - name: default\n", "  - name: default\n    priority: 1\n")],
        PROCESS_POOL,
        "queues",
        "priority used by more than one queue: [1]",
    ),
    Case(
        "duplicate-pool-name",
        [("pools/copy.yaml", None, "name: fx-process\ntype: process\n")],
        "pools/fx-process.yaml",
        "name",
        "duplicate work pool name 'fx-process': already declared in pools/copy.yaml",
    ),
    Case(
        "duplicate-limit-name",
        [("concurrency-limits.yaml", "name: fx-rate", "name: fx-db")],
        "concurrency-limits.yaml",
        "concurrency_limits[1].name",
        "duplicate concurrency limit name 'fx-db'",
    ),
    Case(
        "invalid-variable-name",
        [("variables.yaml", "name: fx_env", "name: FX Env")],
        "variables.yaml",
        "variables[0].name",
        "String should match pattern",
    ),
    Case(
        "job-variable-the-worker-lacks",
        [(K8S_POOL, "namespace: fixtures", "namespace: fixtures\n  imagee: nope")],
        K8S_POOL,
        "job_variables.imagee",
        "the kubernetes worker's template has no variable 'imagee'",
    ),
    Case(
        "job-variable-the-template-rejects",
        [(K8S_POOL, "namespace: fixtures", "namespace: fixtures\n  backoff_limit: lots")],
        K8S_POOL,
        "job_variables.backoff_limit",
        "default does not match the variable's schema",
    ),
    Case(
        "template-uses-undeclared-variable",
        [
            (
                PROCESS_POOL,
                "queues:",
                "base_job_template:\n  job_configuration:\n    command: '{{ nope }}'\nqueues:",
            )
        ],
        PROCESS_POOL,
        "base_job_template.job_configuration",
        "undeclared variable(s): nope",
    ),
    Case(
        "job-configuration-class-rejects-template",
        [
            (
                K8S_POOL,
                "job_variables:",
                "base_job_template:\n  job_configuration:\n"
                "    job_manifest: not-a-manifest\njob_variables:",
            )
        ],
        K8S_POOL,
        "base_job_template.job_configuration.job_manifest",
        "KubernetesWorkerJobConfiguration rejects the rendered template",
    ),
    Case(
        "template-variables-not-a-mapping",
        [(PROCESS_POOL, "queues:", "base_job_template:\n  variables: everything\nqueues:")],
        PROCESS_POOL,
        "base_job_template.variables",
        "expected a JSON Schema mapping",
    ),
    Case(
        "match-label-of-the-wrong-type",
        [(TRIGGER, "prefect.resource.id: fixture.*", "prefect.resource.id: 5")],
        TRIGGER,
        "trigger.match.prefect.resource.id",
        "Input should be a valid string or Input should be a valid list",
    ),
    Case(
        "unknown-trigger-field",
        [(TRIGGER, "threshold: 1", "threshhold: 1")],
        TRIGGER,
        "trigger.threshhold",
        "unknown field; expected one of: after, expect, for_each",
    ),
    Case(
        "unknown-field-in-nested-trigger",
        [(COMPOUND, "expect: [fixture.b]", "expect: [fixture.b]\n      whithin: 5")],
        COMPOUND,
        "trigger.triggers[1].whithin",
        "unknown field",
    ),
    Case(
        "bad-posture",
        [(TRIGGER, "posture: Reactive", "posture: Sometimes")],
        TRIGGER,
        "trigger.posture",
        "Input should be",
    ),
    Case(
        "compound-requires-more-than-it-has",
        [(COMPOUND, "require: all", "require: 3")],
        COMPOUND,
        "trigger",
        "require must be less than or equal to the number of triggers",
    ),
    Case(
        "metric-trigger-is-cloud-only",
        [(TRIGGER, "posture: Reactive", "posture: Metric")],
        TRIGGER,
        "trigger",
        "metric triggers are Prefect Cloud only",
    ),
    Case(
        "unknown-action-type",
        [(TRIGGER, "type: run-deployment", "type: run-deploymnet")],
        TRIGGER,
        "actions[0].type",
        "unknown action type 'run-deploymnet'",
    ),
    Case(
        "misspelled-action-field",
        [(TRIGGER, "parameters:\n      who: automation", "paramters: {}")],
        TRIGGER,
        "actions[0].paramters",
        "unknown field",
    ),
    Case(
        "action-gives-an-id",
        [
            (
                TRIGGER,
                "deployment: fx-flow/fx-deploy",
                "deployment_id: 4a7e4a4e-0d4c-4e0a-9a8e-2f6b4c1d3e5f",
            )
        ],
        TRIGGER,
        "actions[0].deployment_id",
        "ids differ per server: name the deployment in 'deployment' instead",
    ),
    Case(
        "reference-to-missing-deployment",
        [(TRIGGER, "deployment: fx-flow/fx-deploy", "deployment: fx-flow/nope")],
        TRIGGER,
        "actions[0].deployment",
        "no deployment named 'fx-flow/nope' in prefect.yaml",
    ),
    Case(
        "reference-to-missing-queue",
        [(COMPOUND, "work_queue: fx-process/high", "work_queue: fx-process/low")],
        COMPOUND,
        "actions[0].work_queue",
        "no work queue named 'fx-process/low'",
    ),
    Case(
        "reference-to-missing-pool",
        [(COMPOUND, "work_pool: fx-kubernetes", "work_pool: fx-docker")],
        COMPOUND,
        "actions[1].work_pool",
        "no work pool named 'fx-docker' in pools/",
    ),
    Case(
        "reference-to-missing-automation",
        [(COMPOUND, "automation: fx-run-on-event", "automation: fx-nope")],
        COMPOUND,
        "actions[2].automation",
        "no automation named 'fx-nope' in automations/",
    ),
    Case(
        "cron-that-does-not-parse",
        [("prefect.yaml", 'cron: "*/5 * * * *"', 'cron: "61 * * * *"')],
        "prefect.yaml",
        "deployments[0].schedules[0].cron",
        'Invalid cron string: "61 * * * *"',
    ),
    Case(
        "unknown-time-zone",
        [("prefect.yaml", "timezone: Europe/Paris", "timezone: Mars/Olympus")],
        "prefect.yaml",
        "deployments[0].schedules[0].timezone",
        'Invalid timezone: "Mars/Olympus"',
    ),
    Case(
        "rrule-that-does-not-parse",
        [("prefect.yaml", "FREQ=DAILY;BYHOUR=2", "FREQ=SOMETIMES")],
        "prefect.yaml",
        "deployments[1].schedules[0].rrule",
        "Invalid RRule string",
    ),
    Case(
        "schedule-with-two-kinds",
        [("prefect.yaml", "interval: 3600", "interval: 3600\n        cron: '* * * * *'")],
        "prefect.yaml",
        "deployments[0].schedules[1]",
        "exactly one of cron, interval or rrule is expected",
    ),
    Case(
        "credentials-in-a-pull-step-url",
        [
            (
                "prefect.yaml",
                'repository: "{{ $FX_REPO_URL }}"',
                'repository: "https://x-access-token:ghp_leak@example.invalid/fixture.git"',
            )
        ],
        "prefect.yaml",
        "pull[0].prefect.deployments.steps.git_clone.repository",
        "a URL with credentials in it (user:token@) would be stored in the deployment",
    ),
    Case(
        "deployment-choosing-its-pods-service-account",
        [
            (
                "prefect.yaml",
                "        cpu_request: 100m\n",
                "        cpu_request: 100m\n        service_account_name: cluster-admin\n",
            )
        ],
        "prefect.yaml",
        "deployments[1].work_pool.job_variables.service_account_name",
        "fixed by pool 'fx-kubernetes' for every run: a deployment cannot choose it",
    ),
    Case(
        "deployment-on-undeclared-pool",
        [("prefect.yaml", "name: fx-process", "name: fx-nope")],
        "prefect.yaml",
        "deployments[0].work_pool.name",
        "no work pool named 'fx-nope' in pools/",
    ),
    Case(
        "deployment-on-undeclared-queue",
        [("prefect.yaml", "work_queue_name: high", "work_queue_name: low")],
        "prefect.yaml",
        "deployments[0].work_pool.work_queue_name",
        "pool 'fx-process' has no queue 'low'",
    ),
    Case(
        "deployment-job-variable-the-pool-rejects",
        [("prefect.yaml", "cpu_request: 100m", "backoff_limit: lots")],
        "prefect.yaml",
        "deployments[1].work_pool.job_variables.backoff_limit",
        "'lots' is not of type 'integer'",
    ),
    Case(
        "parameter-the-flow-does-not-take",
        [("prefect.yaml", "who: fixture", "whom: fixture")],
        "prefect.yaml",
        "deployments[0].parameters.whom",
        "the flow has no parameter 'whom'",
    ),
    Case(
        "entrypoint-function-missing",
        [("prefect.yaml", "flows/fx.py:fixture_flow", "flows/fx.py:no_such_flow")],
        "prefect.yaml",
        "deployments[0].entrypoint",
        "Could not find object 'no_such_flow'",
    ),
    Case(
        "environment-variable-not-set",
        [("prefect.yaml", "{{ $FX_ORIGIN }}", "{{ $FX_UNSET_VARIABLE }}")],
        "prefect.yaml",
        "deployments[0].description",
        "environment variable FX_UNSET_VARIABLE is not set",
    ),
    Case(
        "build-step",
        [
            (
                "prefect.yaml",
                "build: null",
                "build: [{prefect.deployments.steps.run_shell_script: {}}]",
            )
        ],
        "prefect.yaml",
        "build",
        "the kit builds and pushes nothing",
    ),
    Case(
        "misspelled-override-field",
        [],
        OVERRIDES,
        "pools.fx-process.pasued",
        "unknown field",
        overrides={"pools": {"fx-process": {"pasued": True}}},
    ),
    Case(
        "negative-override",
        [],
        OVERRIDES,
        "concurrency_limits.fx-db.limit",
        "greater than or equal to 0",
        overrides={"concurrency_limits": {"fx-db": {"limit": -2}}},
    ),
    Case(
        "override-of-undeclared-object",
        [],
        OVERRIDES,
        "variables.nope",
        "no variable named 'nope'",
        overrides={"variables": {"nope": {"value": 1}}},
    ),
    Case(
        "override-the-worker-template-rejects",
        [],
        K8S_POOL,
        "job_variables.backoff_limit",
        f"default does not match the variable's schema: 'x' is not valid under any of the "
        f"given schemas (set by {OVERRIDES})",
        overrides={"pools": {"fx-kubernetes": {"job_variables": {"backoff_limit": "x"}}}},
    ),
    *(
        Case(
            f"deployment-trigger-{case_id}",
            [("prefect.yaml", BACKFILL_END, f"{BACKFILL_END}    triggers:\n{trigger}")],
            "prefect.yaml",
            f"deployments[1].triggers[0]{field}",
            message,
        )
        for case_id, trigger, field, message in [
            (
                "misspelled-field",
                "      - expekt: [fx.ready]\n",
                ".expekt",
                "unknown field; expected one of: after, description, enabled, expect",
            ),
            (
                "misspelled-field-of-a-compound-part",
                "      - type: compound\n        require: all\n        triggers:\n"
                "          - {type: event, expect: [fx.a], threshhold: 2}\n",
                ".triggers[0].threshhold",
                "unknown field",
            ),
            (
                "proactive-window-too-short",
                "      - expect: [fx.done]\n        posture: Proactive\n        within: 5\n",
                "",
                "`within` for Proactive triggers must be greater than or equal to 10 seconds",
            ),
            (
                "metric",
                "      - posture: Metric\n        metric: {name: lateness, threshold: 1, "
                "operator: '>'}\n",
                ".type",
                "metric triggers are Prefect Cloud only",
            ),
            (
                "parameter-the-flow-lacks",
                "      - expect: [fx.ready]\n        parameters: {whom: '{{ event.id }}'}\n",
                ".parameters.whom",
                "the flow has no parameter 'whom'; its parameters: ['times', 'who']",
            ),
            (
                "parameter-of-the-wrong-type",
                "      - expect: [fx.ready]\n        parameters: {times: lots}\n",
                ".parameters.times",
                "does not match the flow's signature: 'lots' is not of type 'integer'",
            ),
            (
                "name-an-automation-file-uses",
                "      - expect: [fx.ready]\n        name: fx-run-on-event\n",
                ".name",
                "duplicate automation name 'fx-run-on-event': already declared in "
                "automations/fx-run-on-event.yaml",
            ),
            ("not-a-mapping", "      - fx.ready\n", "", "expected a mapping (one trigger)"),
        ]
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_malformed_declaration_names_the_file_and_the_field(repo: Path, case: Case) -> None:
    for relative, old, new in case.edits:
        edit(repo, relative, old, new)

    with pytest.raises(DeclarationError) as raised:
        load_declarations(repo, case.overrides)

    issues = raised.value.issues
    assert [(issue.file, issue.field) for issue in issues] == [(case.file, case.field)], issues
    assert case.message in issues[0].message
    expected_line = f"{case.file}: {case.field}: " if case.field else f"{case.file}: "
    assert expected_line in str(raised.value)
    assert "ghp_leak" not in str(raised.value)  # a refused credential is never repeated


def test_every_problem_is_reported_at_once(repo: Path) -> None:
    edit(repo, PROCESS_POOL, "type: process", "type: ecs")
    edit(repo, "concurrency-limits.yaml", "limit: 3", "limit: -1")
    edit(repo, TRIGGER, "threshold: 1", "threshhold: 1")
    edit(repo, "prefect.yaml", 'cron: "*/5 * * * *"', 'cron: "61 * * * *"')

    with pytest.raises(DeclarationError) as raised:
        load_declarations(repo)

    assert sorted(issue.file for issue in raised.value.issues) == [
        "automations/fx-run-on-event.yaml",
        "concurrency-limits.yaml",
        "pools/fx-process.yaml",
        "prefect.yaml",
    ]
    assert str(raised.value).startswith("4 problems in the declarations:")


@pytest.mark.parametrize(
    "variable", ["privileged", "volumes", "container_create_kwargs", "network_mode", "networks"]
)
def test_a_docker_deployment_cannot_ask_for_host_access(
    variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repository's own docker-pool: these are the pool's alone (docs/security.md)."""
    monkeypatch.setenv("PREFECT_PLATFORM_REPO_URL", "https://github.com/acme/platform.git")
    monkeypatch.setenv("PREFECT_PLATFORM_BRANCH", "main")
    root = copy_repo_files(tmp_path, ("prefect.yaml", "pools", "flows", "automations"))
    edit(root, "prefect.yaml", "        mem_limit: 512m\n", f"        {variable}: null\n")

    with pytest.raises(DeclarationError) as raised:
        load_declarations(root)

    (issue,) = raised.value.issues
    assert issue.file == "prefect.yaml"
    assert issue.field == f"deployments[1].work_pool.job_variables.{variable}"
    assert "fixed by pool 'docker-pool' for every run" in issue.message
