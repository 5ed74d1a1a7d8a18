"""Benchmarks: printed figures, compared as ratios within one run (never timed unit tests)."""
