"""Live-service test harness: real Prefect server, S3 server, git remote and worker.

Each service is a plain class that starts a real process on a loopback port and
stops it again; `tests/conftest.py` turns them into session-scoped fixtures.
See docs/testing.md.
"""
