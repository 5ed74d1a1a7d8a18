"""Alert storm figures with a real Celery worker (threads) on the plugin's queue.

Prints: issues/s through notify(), jobs per issue, time from the first event to the last
note, and the peak RSS of the process hosting the worker — with coalescing (200 issues
on 5 nodes) and, as the ratio's reference, without it (50 issues).
"""
import resource
import time

import pytest
from celery.contrib.testing.worker import start_worker
from sentry.celery import app as celery_app
from sentry.models import Activity
from sentry.plugins.base import plugins
from sentry.testutils.cases import TransactionTestCase
from sentry.types.activity import ActivityType

from localorch.server import LocalOrchestrator
from sentry_autodiag.plugin import AutoDiagPlugin
from sentry_harness import create_new_issue_rule, python_error_event, send_event

NODES = ["web%02d.example.com" % i for i in range(1, 6)]


class StormBench(TransactionTestCase):
    @pytest.fixture(autouse=True)
    def _orchestrator(self, tmp_path):
        with LocalOrchestrator(nodes=NODES, task_env={"TMPDIR": str(tmp_path)}, workers=8) as orch:
            self.orch = orch
            yield

    def run_storm(self, issues, window):
        plugin = plugins.get("autodiag")
        for key, value in {"url": self.orch.url, "token": self.orch.token, "ca_cert": self.orch.ca_pem,
                           "coalesce_window": window, "max_running_jobs": 5, "max_waiting": 1000,
                           "log_lines": 20}.items():
            plugin.set_option(key, value, self.project)
        plugin.enable(self.project)
        create_new_issue_rule(self.project)
        notify_seconds = []
        real_notify = AutoDiagPlugin.notify_users

        def timed(self_, *args, **kwargs):  # the real method, timed
            start = time.perf_counter()
            try:
                return real_notify(self_, *args, **kwargs)
            finally:
                notify_seconds.append(time.perf_counter() - start)

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        AutoDiagPlugin.notify_users = timed
        try:
            with start_worker(celery_app, concurrency=4, pool="threads", perform_ping_check=False,
                              queues=["autodiag"], shutdown_timeout=30):
                first = time.monotonic()
                for i in range(issues):
                    send_event(self.project, python_error_event(server_name=NODES[i % 5],
                                                                fingerprint=["b%d-%d" % (window, i)]),
                               run_tasks=False)
                while Activity.objects.filter(project_id=self.project.id,
                                              type=ActivityType.NOTE.value).count() < issues:
                    assert time.monotonic() - first < 600
                    time.sleep(0.2)
                last_note = time.monotonic() - first
        finally:
            AutoDiagPlugin.notify_users = real_notify
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        jobs = len(self.orch.jobs)
        label = "coalescing %d min" % window if window else "no coalescing"
        print("\n%s: %d issues, notify %.0f issues/s (mean %.3f ms), %d jobs = %.3f jobs/issue, last note after "
              "%.1f s, peak RSS %.0f MiB (+%.0f MiB during the storm)"
              % (label, issues, len(notify_seconds) / sum(notify_seconds), 1000 * sum(notify_seconds) / len(notify_seconds),
                 jobs, jobs / issues, last_note, rss_after / 1024, (rss_after - rss_before) / 1024))
        return jobs / issues

    def test_storm_with_coalescing(self):
        ratio = self.run_storm(200, window=10)
        print("jobs per issue with coalescing / without (1.0 by design): %.3f" % ratio)
        assert ratio == 5 / 200

    def test_storm_without_coalescing_reference(self):
        assert self.run_storm(50, window=0) == 1.0
