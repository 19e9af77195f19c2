"""The feature catalog: each row of the coverage matrix, the flow that shows it, its test.

`docs/features.md` is generated from this table (and a test fails if it drifts):
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
        "failure escalated into a variable, hook messages in the run's logs",
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
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
