"""Sentry glue: the NotificationPlugin that Sentry's issue alert rules call.

Sentry decides WHEN (alert rule conditions); this class decides WHETHER and WHERE,
then hands the network work to Sentry's Celery workers. Sentry imports stay in this
layer; the core modules beside it are plain Python.
"""
import logging

from sentry.plugins.bases.notify import NotificationPlugin

import sentry_autodiag

logger = logging.getLogger("sentry_autodiag")


class AutoDiagPlugin(NotificationPlugin):
    """Runs Puppet's diagnostics::collect on the event's server and notes the report."""

    # slug and conf_key must match: Sentry mixes them when it lists configured projects.
    slug = "autodiag"
    conf_key = "autodiag"
    title = "Puppet Auto-Diagnostics"
    conf_title = title
    description = (
        "When an alert rule fires for a new issue, run the read-only Puppet task "
        "diagnostics::collect on the server named in the event (through the Puppet "
        "Enterprise orchestrator) and add its report to the issue as a note."
    )
    version = sentry_autodiag.__version__
    author = "sentry-autodiag developers"
    author_url = "https://github.com/sentry-autodiag/sentry-autodiag"
    resource_links = [
        ("Documentation", "https://github.com/sentry-autodiag/sentry-autodiag#readme"),
        ("Puppet module", "https://github.com/sentry-autodiag/sentry-autodiag/tree/main/puppet/diagnostics"),
        ("Bug Tracker", "https://github.com/sentry-autodiag/sentry-autodiag/issues"),
    ]

    def is_configured(self, project, **kwargs):
        return bool(self.get_option("url", project) and self.get_option("token", project))

    def notify_users(self, group, event, triggering_rules=None, fail_silently=False, **kwargs):
        logger.info(
            "autodiag.notify",
            extra={"group_id": group.id, "event_id": event.event_id, "rules": triggering_rules},
        )
