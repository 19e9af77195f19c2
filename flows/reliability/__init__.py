"""Reliability: retries, caching, timeouts, state hooks, allow_failure, transactions, limits."""
