"""Benchmarks that print their figures (not tests); see docs/performance.md."""
