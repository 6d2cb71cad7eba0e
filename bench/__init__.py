"""Benchmarks (not tests): run with `uv run invoke bench.<name>`; figures go to bench/RESULTS.md."""
