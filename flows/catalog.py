"""The feature catalog: each row of the coverage matrix, the flow that shows it, its test.

`FEATURES` holds the matrix's covered rows (a flow module each); `GAP_FEATURES` its "gaps"
rows, which the platform covers (or not yet) with declarations, components and live tests.
`docs/features.md` is generated from both tables (and a test fails if it drifts):
    python -m flows.catalog > docs/features.md
"""

from typing import NamedTuple


class Feature(NamedTuple):
    """One row of the coverage matrix and where it is demonstrated and proven."""

    feature: str
    module: str
    test: str
    shows: str


_B, _R, _O, _D, _P = (
    "tests/flows/test_basics.py",
    "tests/flows/test_reliability.py",
    "tests/flows/test_observability.py",
    "tests/flows/test_data.py",
    "tests/flows/test_orchestration.py",
)

FEATURES: tuple[Feature, ...] = (
    Feature(
        "`@flow` / `@task`",
        "flows.basics.core",
        f"{_B}::test_flow_and_tasks_are_recorded_as_runs",
        "a flow run with three completed task runs",
    ),
    Feature(
        "Subflows",
        "flows.basics.subflows",
        f"{_B}::test_subflows_are_child_runs_of_the_parent",
        "child flow runs linked to the parent's task runs",
    ),
    Feature(
        "`.map()` / `.submit()`",
        "flows.basics.fan_out",
        f"{_B}::test_map_makes_one_task_run_per_element_and_submit_orders_work",
        "one task run per mapped element; `wait_for` recorded as a task input",
    ),
    Feature(
        "Retries / retry delays",
        "flows.reliability.retries",
        f"{_R}::test_retries_follow_the_delay_list_and_show_in_the_state_history",
        "run_count 3 and two `Retrying` states; a condition function that refuses to retry "
        f"(also `{_R}::test_retry_condition_does_not_retry_bad_data`)",
    ),
    Feature(
        "Task caching",
        "flows.reliability.caching",
        f"{_R}::test_second_call_is_cached_and_expired_entries_run_again",
        "`Cached` second calls whose body did not log; expiry runs the body again "
        f"(also `{_R}::test_changed_task_source_misses_the_cache`)",
    ),
    Feature(
        "Timeouts",
        "flows.reliability.timeouts",
        f"{_R}::test_task_timeout_ends_the_task_run_timed_out",
        "task and flow runs ending `TimedOut` "
        f"(also `{_R}::test_flow_timeout_ends_the_flow_run_timed_out`)",
    ),
    Feature(
        "State hooks",
        "flows.reliability.hooks",
        f"{_R}::test_failure_hooks_escalate_and_completion_hooks_log",
        "failure escalated into a variable, hook messages in the run's logs; `on_cancellation` "
        "and `on_crashed` on a worker-run flow (also `tests/events/test_runs_stop.py::"
        "test_a_run_cancelled_through_the_api_ends_cancelled_and_runs_on_cancellation`)",
    ),
    Feature(
        "`allow_failure`",
        "flows.reliability.failure_handling",
        f"{_R}::test_allow_failure_lets_downstream_run_after_a_failure",
        "upstream task run Failed, clean-up task run Completed after it",
    ),
    Feature(
        "Parameters",
        "flows.basics.parameters",
        f"{_B}::test_parameters_are_coerced_and_overridden_at_run_time",
        "coerced run parameters; deployment defaults overridden per run "
        f"(also `{_B}::test_deployment_parameter_defaults_are_overridden_per_run`)",
    ),
    Feature(
        "Results / persistence",
        "flows.data.results",
        f"{_D}::test_persisted_result_is_read_back_by_key_in_a_fresh_process",
        "the task run's state points at the storage key; a new process reads it back",
    ),
    Feature(
        "Artifacts",
        "flows.observability.artifacts",
        f"{_O}::test_markdown_table_link_and_progress_artifacts",
        "markdown, table, link and progress artifacts on the run",
    ),
    Feature(
        "Tags",
        "flows.basics.tags",
        f"{_B}::test_tags_from_decorator_and_context_manager",
        "decorator and context tags on flow and task runs",
    ),
    Feature(
        "Custom run names",
        "flows.basics.naming",
        f"{_B}::test_run_names_come_from_templates_and_callables",
        "rendered flow and task run names",
    ),
    Feature(
        "Structured logging",
        "flows.observability.structured_logging",
        f"{_O}::test_run_logger_and_captured_prints_are_stored_per_run",
        "levels, task run ids and captured prints in the run's logs",
    ),
    Feature(
        "Events",
        "flows.observability.events",
        f"{_O}::test_emitted_events_are_stored_with_resource_and_payload",
        "stored events with resource, related resources and payload",
    ),
    Feature(
        "Blocks / Secret",
        "flows.data.blocks",
        f"{_D}::test_custom_block_and_secret_are_used_but_never_logged",
        "secret values used (signature logged) but absent from logs and the API's view",
    ),
    Feature(
        "Variables",
        "flows.data.variables",
        f"{_D}::test_variables_are_read_and_written_by_the_flow",
        "the variable the flow wrote, read back",
    ),
    Feature(
        "Concurrency limits (local)",
        "flows.reliability.concurrency",
        f"{_R}::test_concurrency_limit_serialises_the_critical_sections",
        "parallel tasks whose limited sections never overlap; slots released",
    ),
    Feature(
        "Async tasks/flows",
        "flows.basics.async_flows",
        f"{_B}::test_async_tasks_run_concurrently_with_gather",
        "overlapping task run windows, total time of one wait",
    ),
    Feature(
        "`flow.serve()`",
        "flows.orchestration.serving",
        f"{_P}::test_serve_runs_its_scheduled_runs",
        "a scheduler-created run completed by the serving process",
    ),
    Feature(
        "`flow.deploy()`",
        "flows.orchestration.deployment",
        f"{_P}::test_flow_deploy_to_a_work_pool_is_run_by_the_worker",
        "a git-sourced deployment run to Completed by a real process worker",
    ),
    Feature(
        "`prefect.yaml`",
        "flows.platform.smoke",
        f"{_P}::test_prefect_yaml_deployment_is_applied_and_run_from_git",
        "`prefect deploy` of a prefect.yaml with a git_clone pull step, run by the worker",
    ),
    Feature(
        "Schedules (cron/interval/rrule)",
        "flows.orchestration.schedules",
        f"{_P}::test_cron_interval_and_rrule_schedules_create_runs_at_their_times",
        "scheduled runs from each schedule at the times it defines",
    ),
    Feature(
        "`prefect.runtime`",
        "flows.orchestration.runtime_info",
        f"{_P}::test_runtime_tells_a_flow_how_it_was_started",
        "the run's own name and deployment, as logged by a deployed and an ad-hoc run",
    ),
    Feature(
        "Transactions",
        "flows.reliability.transactions",
        f"{_R}::test_transaction_rolls_back_on_failure_and_commits_on_success",
        "rollback hook ran and commit hook did not (and the reverse)",
    ),
    Feature(
        "Interactive flows",
        "flows.orchestration.interactive",
        f"{_P}::test_paused_run_resumes_with_typed_input_and_refuses_bad_input",
        "a paused run refusing bad input, then resumed with typed input through the API",
    ),
    Feature(
        "Task runners (ThreadPool)",
        "flows.basics.task_runners",
        f"{_B}::test_thread_pool_task_runner_runs_tasks_in_parallel",
        "overlapping task run windows on four threads",
    ),
    Feature(
        "Pydantic models",
        "flows.basics.models",
        f"{_B}::test_pydantic_models_validate_parameters_before_the_body_runs",
        "a bad model fails the run naming the field; the server refuses bad deployment "
        f"parameters (also `{_B}::test_enforced_schema_makes_the_server_refuse_bad_parameters`)",
    ),
    Feature(
        "S3 storage (prefect-aws)",
        "flows.data.s3_storage",
        f"{_D}::test_s3_bucket_block_with_minio_credentials_stores_exports_and_results",
        "export object and persisted result in the S3 bucket; secret key not in the API view",
    ),
    Feature(
        "Basic auth",
        "flows.platform.smoke",
        f"{_P}::test_basic_auth_refuses_a_client_without_the_auth_string",
        "a client without the auth string gets 401 and creates no run",
    ),
)


class GapFeature(NamedTuple):
    """One row of the matrix's "gaps" table: how far the platform covers it, and the proof."""

    feature: str
    status: str
    """`covered`, `partly` (what is missing is said in `shows`), `not yet` or `n/a`."""
    test: str
    """The test that proves it (empty when not yet covered)."""
    shows: str
    module: str = ""
    """The flow module that demonstrates it, if one does (`flows/integrations/`)."""


_C, _G = "tests/containers/test_docker_pool.py", "tests/gitops/test_private_repo.py"
_SQL, _DBT, _DIST = (
    "tests/integrations/test_sql.py",
    "tests/integrations/test_dbt.py",
    "tests/integrations/test_distributed.py",
)

GAP_FEATURES: tuple[GapFeature, ...] = (
    GapFeature(
        "Automations and triggers",
        "covered",
        "tests/events/test_triggers_fire.py"
        "::test_compound_trigger_requiring_all_parts_fires_once_every_part_came",
        "declared automations applied by the kit fire on a live server: compound (`all` and a "
        "number), sequence (in order only), proactive, and a `triggers:` entry of prefect.yaml "
        "(also `tests/events/test_triggers_fire.py::test_sequence_trigger_fires_in_order_and_"
        "not_out_of_order`, `tests/events/test_triggers_fire.py::test_proactive_trigger_fires_"
        "when_the_expected_event_does_not_come`, `tests/events/test_triggers_fire.py::test_"
        "deployment_trigger_in_prefect_yaml_is_an_automation_that_runs_its_deployment`, "
        "`tests/events/test_runs_stop.py::test_an_automation_cancels_an_overdue_run_which_runs_"
        "on_cancellation`)",
    ),
    GapFeature(
        "Global concurrency limits",
        "covered",
        "tests/program/test_program_applies_objects.py::test_first_up_creates_every_declared_object",
        "`concurrency-limits.yaml` applied to the server by the program; a flow held by one "
        f"(also `{_R}::test_concurrency_limit_serialises_the_critical_sections`)",
    ),
    GapFeature(
        "Webhooks",
        "covered",
        "tests/webhooks/test_live.py::test_a_signed_github_push_runs_a_deployment_to_completed",
        "the kit's gateway (`webhooks/github-push.yaml`): a GitHub-signed push becomes a "
        "`github.push` event on a live server, an automation runs a deployment and a real worker "
        "completes it; every refusal (401, 404, 413, 400 with the template line, 429, 503) "
        "emits nothing (also `tests/webhooks/test_bad_requests.py::test_a_bad_request_is_"
        "refused_and_emits_nothing`); the gateway in the flows image as both targets run it "
        "(also `tests/containers/test_webhook_gateway.py::test_the_flows_image_serves_the_"
        "shipped_gateway_code`)",
    ),
    GapFeature(
        "Remote result storage",
        "covered",
        "tests/scheduling/test_results_by_default.py"
        "::test_a_worker_run_keeps_its_result_in_the_object_store_without_code_changes",
        "every pool's `env` persists results by default into the stack's `s3-bucket/results`: "
        "a worker-run deployment with no result settings is read back from S3 in a fresh "
        f"process (also `{_C}::test_smoke_docker_runs_in_a_container_from_git_and_writes_its_"
        "result_to_s3`, in a container)",
    ),
    GapFeature(
        "prefect-sqlalchemy",
        "covered",
        f"{_SQL}::test_rows_written_through_the_block_are_read_back_from_postgresql",
        "rows written to and read back from a fresh PostgreSQL database through a "
        "`sqlalchemy-connector` block; a lock timeout retried by the task (`AwaitingRetry`, "
        "`Retrying` in its state history); a wrong database fails at once naming the block, the "
        f"password in no log (also `{_SQL}::test_a_lock_timeout_is_retried_by_the_task_and_"
        f"shows_in_its_state_history`, `{_SQL}::test_a_wrong_database_url_fails_naming_the_"
        "block_without_the_password`); the block declared in `blocks/`, its password a Pulumi "
        "config secret, applied by the program and used by the flow (also `tests/integrations/"
        "test_declared_connector.py::test_a_declared_connector_block_is_applied_and_a_flow_"
        "uses_it`); a wrong password refused by a PostgreSQL that checks passwords fails the "
        "run naming the block (also `tests/integrations/test_refused_password.py::test_the_"
        "right_password_connects_and_a_wrong_one_fails_naming_the_block`)",
        "flows.integrations.sql",
    ),
    GapFeature(
        "prefect-dbt",
        "covered",
        f"{_DBT}::test_dbt_build_runs_the_seed_models_and_tests_as_task_runs",
        "`dbt build` of `flows/integrations/dbt_project/` (seed, models, tests) by "
        "`PrefectDbtRunner` into PostgreSQL: a task run per dbt node, an asset materialization "
        "event per seed and model, the profile made from the connector block (password as a "
        "block placeholder); a failing dbt test and a model "
        f"error fail the run with dbt's message (also `{_DBT}::test_a_failing_dbt_test_fails_"
        f"the_flow_run_and_stops_what_depends_on_it`, `{_DBT}::test_a_model_sql_error_fails_"
        "the_flow_run_with_dbts_message`)",
        "flows.integrations.dbt_run",
    ),
    GapFeature(
        "Notification blocks",
        "covered",
        "tests/events/test_notifications.py"
        "::test_a_send_notification_action_delivers_the_rendered_message_through_a_declared_block",
        "a `custom-webhook` block declared in `blocks/`, its URL and token Pulumi config "
        "secrets, applied by the program; an automation's `send-notification` action names it "
        "and the server delivers the rendered subject and body to an HTTP endpoint (also "
        "`tests/declarations/test_blocks.py::test_a_bad_block_file_names_the_file_and_the_field`"
        ", Slack, Teams and any installed block type validated the same way)",
    ),
    GapFeature(
        "Docker/K8s work pools",
        "partly",
        f"{_C}::test_smoke_docker_runs_in_a_container_from_git_and_writes_its_result_to_s3",
        "`pools/docker-pool.yaml` applied and `smoke-docker` run to Completed in a container of "
        "the flows image by a real prefect-docker worker; Kubernetes: the Job manifest "
        "prefect-kubernetes builds for each deployment validated "
        "(`tests/platform/test_kubernetes_jobs.py`), never run on a cluster here",
    ),
    GapFeature(
        "GitHub storage deployments",
        "covered",
        f"{_G}::test_a_token_from_a_secret_block_clones_over_https_and_the_run_completes",
        "code cloned over HTTPS with the token from a Secret block, by a process worker and in "
        f"a container (also `{_C}::test_a_private_repository_clones_over_https_into_a_"
        "container_with_the_token`)",
    ),
    GapFeature(
        "DaskTaskRunner / RayTaskRunner",
        "partly",
        f"{_DIST}::test_dask_runs_tasks_in_the_clusters_worker_processes_and_gathers_results",
        "tasks run in a Dask cluster's worker processes and on a local Ray instance (pids "
        "recorded, results gathered); a Dask address that does not answer fails the run in "
        "seconds, and a deployment selects the cluster by its `env` job variable on a real "
        "process worker (also `tests/integrations/test_ray.py::test_ray_runs_tasks_in_ray_worker_"
        f"processes_and_gathers_results`, `{_DIST}::test_a_dask_address_that_does_not_answer_"
        f"fails_the_run_within_seconds`, `{_DIST}::test_a_deployment_selects_the_dask_cluster_by_"
        "its_env_job_variable`); the stack's Dask cluster (`dask.enabled`, the official chart) "
        "declared and checked under Pulumi's mocks (`tests/integrations/test_dask_cluster.py`), "
        "never run on a cluster here. Missing: a Ray cluster (KubeRay, not provisioned: "
        "docs/integrations.md)",
        "flows.integrations.clusters",
    ),
    GapFeature("Managed execution", "n/a", "", "Prefect Cloud only"),
    GapFeature(
        "Custom event triggers",
        "covered",
        "tests/events/test_triggers_fire.py::test_an_event_a_flow_emits_fires_an_automation",
        "a custom event a flow emits fires a declared automation, which runs a deployment with "
        "a parameter taken from the event (also `tests/events/test_triggers_fire.py::test_"
        "compound_trigger_requiring_two_of_three_parts_fires_on_the_second`)",
    ),
    GapFeature(
        "Work pool priority",
        "covered",
        "tests/scheduling/test_scheduling.py"
        "::test_a_higher_priority_queue_starts_first_when_the_pool_is_saturated",
        "a real worker on a saturated pool starts the higher-priority queue's run first, and "
        "queue and pool concurrency limits hold (also `tests/scheduling/test_scheduling.py"
        "::test_a_queue_concurrency_limit_holds`); the priorities declared in `pools/` are "
        "applied (also `tests/declarations/test_loader.py"
        "::test_limits_variables_and_queues_match_the_contract`)",
    ),
    GapFeature(
        "Flow run infrastructure overrides",
        "covered",
        f"{_C}::test_a_per_run_job_variables_override_changes_that_runs_container_only",
        "per-run `job_variables` change that run's container only, from `run_deployment` and "
        f"from an automation (also `{_C}::test_an_automations_run_deployment_job_variables_"
        "change_that_runs_container_only`)",
    ),
    GapFeature(
        "Reverse proxy auth (SSO/OIDC)", "not yet", "", "basic auth only (docs/security.md)"
    ),
    GapFeature("RBAC", "n/a", "", "Prefect Cloud only; basic auth has no roles (docs/security.md)"),
)


def render() -> str:
    """The markdown table of `FEATURES` (the content of docs/features.md)."""
    lines = [
        "# Features: flow and test per row of the coverage matrix",
        "",
        "Generated from `flows/catalog.py` by `python -m flows.catalog > docs/features.md`;",
        "`tests/flows/test_catalog.py` fails if this file, the modules or the tests drift.",
        "Every test runs against a live Prefect server (see `tests/conftest.py`):",
        "`.venv/bin/pytest tests/flows -q`.",
        "",
        "| Feature | Flow module | Test | What the test reads back through the API |",
        "|---|---|---|---|",
    ]
    for row in FEATURES:
        path = row.module.replace(".", "/") + ".py"
        lines.append(f"| {row.feature} | `{path}` | `{row.test}` | {row.shows} |")
    lines += [
        "",
        "## The matrix's gaps: platform features",
        "",
        "| Feature | Status | Test | What the test shows, or what is missing |",
        "|---|---|---|---|",
    ]
    for gap in GAP_FEATURES:
        test = f"`{gap.test}`" if gap.test else "none"
        shows = gap.shows
        if gap.module:
            shows = f"flow `{gap.module.replace('.', '/')}.py`: {shows}"
        lines.append(f"| {gap.feature} | {gap.status} | {test} | {shows} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
