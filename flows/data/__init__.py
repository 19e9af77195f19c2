"""Data and configuration: persisted results, blocks and secrets, variables, S3 storage."""
