"""Integrations: databases (prefect-sqlalchemy), dbt (prefect-dbt), Dask and Ray task runners."""
