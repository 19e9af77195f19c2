"""Upgrade tests: a database of the previous Prefect release, migrated and served by this one."""
