"""sentry-autodiag: Puppet diagnostics attached to new Sentry issues."""

__version__ = "0.3.0"
