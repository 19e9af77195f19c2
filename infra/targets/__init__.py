"""One module per platform target: `kubernetes`, `docker`, `external`.

Each has `build(config, ...) -> Platform`, declaring the target's components from the validated
stack config; `infra.program.build_platform` picks one by `prefect-platform:target`.
"""
