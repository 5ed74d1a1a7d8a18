"""Benchmarks run under Sentry's pytest plugin too (`make bench`); they print figures."""
pytest_plugins = ["sentry.utils.pytest", "sentry_fixtures"]
