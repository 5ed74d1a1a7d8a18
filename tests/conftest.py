"""Runs the tests inside a real Sentry 23.7.1: its own pytest plugin, PostgreSQL, Redis.

The only stub is Snuba's HTTP write, which has no server here (see sentry_fixtures).
"""
pytest_plugins = ["sentry.utils.pytest", "sentry_fixtures"]
