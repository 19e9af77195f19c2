"""Pulumi entry point (`Pulumi.yaml` has `main: infra/`): declares the current stack."""

from infra.program import main

main()
