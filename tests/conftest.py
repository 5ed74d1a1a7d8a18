"""Two venvs run this suite, as the two front ends run in production:

- `.venv` (Python 3.8, Sentry 23.7.1): everything but tests/gateway, inside a real Sentry
  (its own pytest plugin, PostgreSQL, Redis). The only stub is Snuba's HTTP write (see
  sentry_fixtures).
- `.venv-gateway` (Python 3.11+, no Sentry): tests/gateway, the gateway's own unit tests.
"""
try:
    import sentry  # noqa: F401
except ImportError:  # the gateway's venv
    sentry = None

if sentry is not None:
    pytest_plugins = ["sentry.utils.pytest", "sentry_fixtures"]
    collect_ignore = ["gateway"]
