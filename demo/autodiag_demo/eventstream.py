"""DEMO ONLY: Sentry's Snuba event stream without the Snuba write.

This is the single stub the test-suite uses too (SnubaEventStream._send, an HTTP call
to a Snuba server that does not exist here). Everything else — post_process_group on
the Celery worker, the rule engine, plugins — is Sentry's own code path.
"""
from sentry.eventstream.snuba import SnubaEventStream


class SnubalessEventStream(SnubaEventStream):
    def _send(self, *args, **kwargs):
        return None
