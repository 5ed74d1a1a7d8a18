"""Runs the tests inside a real Sentry 23.7.1: its own pytest plugin, PostgreSQL, Redis.

The only stub is Snuba's HTTP write, which has no server here (see sentry_harness).
"""
import pytest

pytest_plugins = ["sentry.utils.pytest"]


@pytest.fixture(autouse=True)
def _sentry_on_commit(request):
    """Sentry's outbox code needs on_commit hooks simulated inside Django's TestCase."""
    from sentry.testutils.hybrid_cloud import simulate_on_commit

    with simulate_on_commit(request):
        yield


@pytest.fixture(autouse=True)
def _no_snuba_write(monkeypatch):
    """Snuba has no server here: its write becomes a no-op, nothing else changes."""
    from sentry_harness import disable_snuba_write

    disable_snuba_write(monkeypatch)
