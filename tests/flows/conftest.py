"""Flow tests: each runs a flow from `flows/` against the harness's Prefect server and asserts
through the API (the `api` fixture, `tests/harness/api.py`) what a user would see in the UI."""
