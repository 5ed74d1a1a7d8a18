"""Autouse fixtures every Sentry-backed test and benchmark needs (a pytest plugin module).

Sentry is imported inside the fixtures: this module is loaded before Sentry's own
pytest plugin has configured Django.
"""
import pytest


@pytest.fixture(autouse=True)
def sentry_on_commit(request):
    """Sentry's outbox code needs on_commit hooks simulated inside Django's TestCase."""
    from sentry.testutils.hybrid_cloud import simulate_on_commit

    with simulate_on_commit(request):
        yield


@pytest.fixture(autouse=True)
def no_snuba_write(monkeypatch):
    """The single allowed stub: SnubaEventStream._send does HTTP to a Snuba we lack."""
    from sentry.eventstream.snuba import SnubaEventStream

    monkeypatch.setattr(SnubaEventStream, "_send", lambda self, *args, **kwargs: None)
