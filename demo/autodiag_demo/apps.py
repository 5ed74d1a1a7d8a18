"""DEMO ONLY: answers the two Snuba reads of issue 20's allowance in the demo's Sentry
(devtools/snuba_reads.py, the same code tests/test_gateway_catchup.py uses), so that the
gateway's catch-up sweep can read the rule group history and the event API here.

This Sentry has no Snuba (see eventstream.py for its write path). Listed in INSTALLED_APPS
by the demo's sentry.conf.py (conf.py); `ready()` runs once Django's apps are loaded, in
every Sentry process of the demo (web, worker, cron).
"""
from django.apps import AppConfig


class SnubaReadsConfig(AppConfig):
    name = "autodiag_demo"
    label = "autodiag_demo"
    verbose_name = "sentry-autodiag demo: Snuba reads (DEMO ONLY)"

    def ready(self):
        import snuba_reads

        snuba_reads.install()
