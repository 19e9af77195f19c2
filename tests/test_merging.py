"""The merge rule shared by Helm values, job templates and stack overrides."""

from infra.merging import deep_merge


def test_mappings_merge_null_deletes_and_the_rest_replaces() -> None:
    base = {"a": {"x": 1, "y": 2}, "b": [1, 2], "c": 3}
    override = {"a": {"y": None, "z": 4}, "b": [3], "d": {"e": 5}}

    assert deep_merge(base, override) == {"a": {"x": 1, "z": 4}, "b": [3], "c": 3, "d": {"e": 5}}
    assert base == {"a": {"x": 1, "y": 2}, "b": [1, 2], "c": 3}
