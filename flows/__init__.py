"""Real, deployable Prefect 3 flows: one module per feature of the coverage matrix.

Folders: `platform/` (the smoke flow), `basics/`, `reliability/`, `observability/`, `data/`
and `orchestration/`. `flows/catalog.py` maps each feature to its module and its test;
`docs/features.md` is generated from it.
"""
