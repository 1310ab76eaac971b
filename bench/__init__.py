"""Benchmarks: run with ``.venv/bin/python -m bench.run --help`` (docs/performance.md)."""
